using System.Reflection.Metadata;
using System.Reflection.Metadata.Ecma335;
using System.Reflection.PortableExecutable;

namespace VmLab.Host.Plugins;

/// <summary>Reads the string literals of an assembly from its metadata, without loading it.</summary>
internal static class MetadataStrings
{
    public static bool Contains(string assemblyPath, string literal)
    {
        try
        {
            using var stream = File.OpenRead(assemblyPath);
            using var pe = new PEReader(stream);
            if (!pe.HasMetadata) return false;
            var reader = pe.GetMetadataReader();
            if (reader.GetHeapSize(HeapIndex.UserString) <= 1) return false;
            var handle = MetadataTokens.UserStringHandle(1);
            while (!handle.IsNil)
            {
                if (string.Equals(reader.GetUserString(handle), literal, StringComparison.OrdinalIgnoreCase)) return true;
                handle = reader.GetNextHandle(handle);
            }
            return false;
        }
        catch (Exception e) when (e is IOException or BadImageFormatException or UnauthorizedAccessException)
        {
            return false;
        }
    }
}
