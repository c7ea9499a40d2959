using System.Globalization;
using System.Text;
using System.Text.Json;

namespace VmLab.Host.Plugins;

/// <summary>
/// What a plugin folder provides, kept beside its main assembly as <c>X.vmlab-plugin.json</c> so that a catalog can
/// tell which folder to load for a component without loading every folder: the extension points its module registers
/// and the (extension point, name) of each component. Written by the catalog the first time it loads the folder (a
/// cache: a folder that cannot be written is simply loaded every time), and trusted only while it is current — its
/// stamp lists the name, size and modification time of every assembly in the folder, so a rebuilt or replaced plugin
/// or dependency makes it stale and the folder is loaded (and the manifest rewritten) again.
/// </summary>
internal sealed class PluginManifest
{
    /// <summary>
    /// A component: extension point and name. A class, not a tuple: sets and dictionaries keyed by it use precompiled
    /// code, where a tuple key made the JIT compile them at every start.
    /// </summary>
    public sealed record Component(string Kind, string Name);

    public const string Extension = ".vmlab-plugin.json";
    private const int Format = 1;

    private readonly HashSet<string> _kinds = new(StringComparer.Ordinal);

    private PluginManifest(HashSet<string> extensionPoints, HashSet<Component> components)
    {
        ExtensionPoints = extensionPoints;
        Components = components;
        foreach (var c in components) _kinds.Add(c.Kind);
    }

    /// <summary>The extension points the folder's module registers.</summary>
    public IReadOnlySet<string> ExtensionPoints { get; }

    /// <summary>The components it registers: extension point and lower-case name.</summary>
    public IReadOnlySet<Component> Components { get; }

    /// <summary>Whether it registers a component of <paramref name="kind"/>.</summary>
    public bool Provides(string kind) => _kinds.Contains(kind);

    public static string PathOf(string assemblyPath) => Path.ChangeExtension(assemblyPath, null) + Extension;

    /// <summary>The folder's stamp: every assembly's name, size and modification time, in ordinal order of names.</summary>
    private static string Stamp(string folder)
    {
        var files = Directory.GetFiles(folder, "*.dll");
        Array.Sort(files, StringComparer.Ordinal);
        var sb = new StringBuilder();
        foreach (var file in files)
        {
            var info = new FileInfo(file);
            sb.Append(info.Name).Append(':').Append(info.Length.ToString(CultureInfo.InvariantCulture)).Append(':')
              .Append(info.LastWriteTimeUtc.Ticks.ToString(CultureInfo.InvariantCulture)).Append(';');
        }
        return sb.ToString();
    }

    /// <summary>The folder's manifest, or null when there is none, it cannot be read, or it is not current.</summary>
    public static PluginManifest? Read(string folder, string assemblyPath)
    {
        string path = PathOf(assemblyPath);
        try
        {
            if (!File.Exists(path)) return null;
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            var root = doc.RootElement;
            if (root.GetProperty("format").GetInt32() != Format) return null;
            if (root.GetProperty("stamp").GetString() != Stamp(folder)) return null;
            var points = new HashSet<string>(StringComparer.Ordinal);
            foreach (var p in root.GetProperty("extensionPoints").EnumerateArray()) points.Add(p.GetString()!);
            var components = new HashSet<Component>();
            foreach (var c in root.GetProperty("components").EnumerateArray())
                components.Add(new Component(c.GetProperty("kind").GetString()!, c.GetProperty("name").GetString()!.ToLowerInvariant()));
            return new PluginManifest(points, components);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return null;
        }
    }

    /// <summary>Writes the folder's manifest (atomically: a temporary file renamed over it); a folder that cannot be written is left as it is.</summary>
    public static void TryWrite(string folder, string assemblyPath, IEnumerable<string> extensionPoints, IEnumerable<Component> components)
    {
        string path = PathOf(assemblyPath);
        string temp = Path.Combine(folder, "." + Path.GetFileName(path) + "." + Guid.NewGuid().ToString("N") + ".tmp");
        try
        {
            using (var stream = File.Create(temp))
            using (var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
            {
                json.WriteStartObject();
                json.WriteNumber("format", Format);
                json.WriteString("stamp", Stamp(folder));
                json.WriteStartArray("extensionPoints");
                foreach (var p in extensionPoints.Order(StringComparer.Ordinal)) json.WriteStringValue(p);
                json.WriteEndArray();
                json.WriteStartArray("components");
                foreach (var (kind, name) in components.OrderBy(c => c.Kind, StringComparer.Ordinal).ThenBy(c => c.Name, StringComparer.Ordinal))
                {
                    json.WriteStartObject();
                    json.WriteString("kind", kind);
                    json.WriteString("name", name);
                    json.WriteEndObject();
                }
                json.WriteEndArray();
                json.WriteEndObject();
            }
            File.Move(temp, path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            try
            {
                File.Delete(temp);
            }
            catch (Exception d) when (d is IOException or UnauthorizedAccessException)
            {
                // nothing was written, or the folder is read-only: the cache is simply not kept
            }
        }
    }
}
