using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using VmLab.Abstractions.Plugins;

namespace VmLab.Host.Results;

/// <summary>
/// A file VmLab writes a result to (<c>--json</c>, <c>--csv</c>, <c>--html</c>, <c>merge -o</c>). A regular file (or a
/// path that does not exist yet) is replaced atomically: written beside its final target under a temporary name,
/// then renamed over it, so a reader never sees half a file and a failed write leaves the old file as it was. A
/// symbolic link is followed: the file it points to is replaced, the link stays. Anything else that exists at the
/// path — a device (<c>/dev/null</c>, <c>/dev/stdout</c>, <c>/dev/full</c>), a FIFO, a socket — is opened and written
/// through, never replaced. A target that cannot be written is a <see cref="VmLabInputException"/> naming it, and
/// <see cref="Check"/> finds that before a run starts.
/// </summary>
public static partial class OutputTarget
{
    /// <summary>What is at a path, symbolic links followed.</summary>
    public enum Kind
    {
        Missing,
        Regular,
        Directory,
        /// <summary>A character or block device, a FIFO or a socket: written through, never replaced.</summary>
        Special,
    }

    /// <summary>Fails with a message naming <paramref name="path"/> when it cannot be written; writes nothing there.</summary>
    public static void Check(string path)
    {
        string full = Path.GetFullPath(path);
        switch (KindOf(full))
        {
            case Kind.Directory:
                throw new VmLabInputException(path, "is a directory; give the path of a file to write");
            case Kind.Special:
                if (OperatingSystem.IsLinux() && Access(full, WriteOk) != 0)
                    throw new VmLabInputException(path, $"cannot be written: {Marshal.GetLastPInvokeErrorMessage()}");
                return;
            default:
                string target = FinalTarget(full);
                string dir = Path.GetDirectoryName(target)!;
                if (!Directory.Exists(dir))
                    throw new VmLabInputException(path, $"cannot be written: directory {dir} does not exist");
                string probe = TempBeside(target);
                try
                {
                    using (new FileStream(probe, FileMode.CreateNew, FileAccess.Write)) { }
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    throw new VmLabInputException(path, $"cannot be written: cannot create a file in {dir}: {e.Message}");
                }
                finally
                {
                    TryDelete(probe);
                }
                return;
        }
    }

    /// <summary>Writes <paramref name="text"/> (UTF-8, no byte-order mark) to <paramref name="path"/>.</summary>
    public static void WriteText(string path, string text)
    {
        byte[] bytes = new UTF8Encoding(false).GetBytes(text);
        Write(path, stream => stream.Write(bytes));
    }

    /// <summary>Writes what <paramref name="write"/> puts in the stream it is given to <paramref name="path"/>, as the class says.</summary>
    public static void Write(string path, Action<Stream> write)
    {
        string full = Path.GetFullPath(path);
        var kind = KindOf(full);
        if (kind == Kind.Directory) throw new VmLabInputException(path, "is a directory; give the path of a file to write");
        if (kind == Kind.Special)
        {
            try
            {
                using var stream = new FileStream(full, FileMode.Open, FileAccess.Write, FileShare.ReadWrite, bufferSize: 0);
                write(stream);
                stream.Flush();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new VmLabInputException(path, $"cannot be written: {e.Message}");
            }
            return;
        }
        string target = FinalTarget(full);
        string temp = TempBeside(target);
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, target, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new VmLabInputException(path, $"cannot be written: {e.Message}");
        }
        finally
        {
            TryDelete(temp);
        }
    }

    /// <summary>
    /// Puts the finished file <paramref name="built"/> (made by <see cref="TempFor"/>) at <paramref name="path"/>:
    /// renamed over a regular target, copied into a special one (then deleted).
    /// </summary>
    public static void Place(string path, string built)
    {
        string full = Path.GetFullPath(path);
        try
        {
            if (KindOf(full) == Kind.Special)
            {
                Write(path, stream =>
                {
                    using var source = File.OpenRead(built);
                    source.CopyTo(stream);
                });
                return;
            }
            File.Move(built, FinalTarget(full), overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new VmLabInputException(path, $"cannot be written: {e.Message}");
        }
        finally
        {
            TryDelete(built);
        }
    }

    /// <summary>
    /// Where to build a file that <see cref="Place"/> will put at <paramref name="path"/>: beside its final target (so
    /// the rename is atomic), or in the temporary folder when the target is a device or a FIFO.
    /// </summary>
    public static string TempFor(string path)
    {
        string full = Path.GetFullPath(path);
        return KindOf(full) == Kind.Special
            ? Path.Combine(Path.GetTempPath(), $"vmlab-{Path.GetFileName(full)}.tmp-{Environment.ProcessId.ToString(CultureInfo.InvariantCulture)}")
            : TempBeside(FinalTarget(full));
    }

    /// <summary>The file a path names once every symbolic link (a dangling one too) is followed.</summary>
    public static string FinalTarget(string full)
    {
        var info = new FileInfo(full);
        if (info.LinkTarget is null) return full;
        return info.ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? full;
    }

    private static string TempBeside(string target) =>
        Path.Combine(Path.GetDirectoryName(target)!, $".{Path.GetFileName(target)}.tmp-{Environment.ProcessId.ToString(CultureInfo.InvariantCulture)}");

    private static void TryDelete(string path)
    {
        try
        {
            if (File.Exists(path)) File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Best effort: the temporary file is in the target's folder, named after it.
        }
    }

    /// <summary>What is at <paramref name="full"/>, following symbolic links (statx on Linux; elsewhere files and folders only).</summary>
    public static Kind KindOf(string full)
    {
        if (Directory.Exists(full)) return Kind.Directory;
        if (!File.Exists(full)) return Kind.Missing;
        if (!OperatingSystem.IsLinux()) return Kind.Regular;
        Span<byte> buffer = stackalloc byte[256];
        if (Statx(AtFdCwd, full, 0, StatxType, buffer) != 0) return Kind.Regular;
        int mode = BitConverter.ToUInt16(buffer[StatxModeOffset..]) & FileTypeMask;
        return mode switch
        {
            RegularFile => Kind.Regular,
            DirectoryFile => Kind.Directory,
            _ => Kind.Special,
        };
    }

    private const int AtFdCwd = -100;
    private const uint StatxType = 1;
    /// <summary>Offset of <c>stx_mode</c> in <c>struct statx</c> (the same on every Linux architecture).</summary>
    private const int StatxModeOffset = 28;
    private const int FileTypeMask = 0xF000;
    private const int RegularFile = 0x8000;
    private const int DirectoryFile = 0x4000;
    private const int WriteOk = 2;

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Statx(int dirfd, string path, int flags, uint mask, Span<byte> buffer);

    [LibraryImport("libc", EntryPoint = "access", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Access(string path, int mode);
}
