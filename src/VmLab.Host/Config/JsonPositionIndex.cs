using System.Text;
using System.Text.Json;

namespace VmLab.Host.Config;

/// <summary>
/// Where each key of a JSON config file stands (line and column of its value), by the configuration key path
/// (<c>machine:tlb:options:entries</c>, arrays by index), so errors can point into the file.
/// Also the first check of the file: malformed JSON and duplicate keys are reported here with their position.
/// </summary>
public sealed class JsonPositionIndex
{
    // Reference types and List<int> only: generic collections over tuples or value types of their own are compiled by
    // the JIT at start-up, these are precompiled (docs/performance.md, "Start-up").
    private readonly Dictionary<string, Place> _positions = new(StringComparer.OrdinalIgnoreCase);
    // Key paths whose value is a JSON true or false: the configuration tree holds them as the text "True" or "False".
    private readonly HashSet<string> _booleans = new(StringComparer.OrdinalIgnoreCase);

    private sealed record Place(int Line, int Column);

    /// <summary>An object or array being read: its keys so far (duplicates are errors), and for an array its next index.</summary>
    private sealed class Container(bool isArray, HashSet<string> keys)
    {
        public bool IsArray { get; } = isArray;
        public HashSet<string> Keys { get; } = keys;
        public int Count { get; set; }
    }

    private JsonPositionIndex(string file) => File = file;

    public string File { get; }

    /// <summary>The byte offset of the first invalid UTF-8 sequence, or null when the text is valid UTF-8.</summary>
    private static int? FirstInvalidUtf8(byte[] utf8)
    {
        if (System.Text.Unicode.Utf8.IsValid(utf8)) return null;
        var chars = new char[Math.Min(utf8.Length, 4096)];
        int offset = 0;
        while (offset < utf8.Length)
        {
            var status = System.Text.Unicode.Utf8.ToUtf16(utf8.AsSpan(offset), chars, out int read, out _, replaceInvalidSequences: false);
            offset += read;
            if (status == System.Buffers.OperationStatus.InvalidData || status == System.Buffers.OperationStatus.NeedMoreData) return offset;
            if (status == System.Buffers.OperationStatus.Done) return null;
        }
        return null;
    }

    public static JsonPositionIndex Parse(string file, byte[] utf8, List<ConfigError> errors)
    {
        var index = new JsonPositionIndex(file);
        var lineStarts = new List<int> { 0 };
        for (int i = 0; i < utf8.Length; i++)
            if (utf8[i] == (byte)'\n') lineStarts.Add(i + 1);

        // The reader accepts invalid UTF-8 inside strings and only fails when a string is decoded: check the whole file first.
        if (FirstInvalidUtf8(utf8) is int bad)
        {
            var (l, c) = Position(lineStarts, bad);
            errors.Add(new ConfigError($"{file}:{l}:{c}", $"invalid UTF-8 at byte offset {bad}; a config is a UTF-8 text file"));
            return index;
        }

        var reader = new Utf8JsonReader(utf8, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        var path = new List<string>();
        var containers = new List<Container>();
        string? pendingProperty = null;
        try
        {
            if (!reader.Read())
            {
                errors.Add(new ConfigError($"{file}:1:1", "the file is empty; an experiment is a JSON object"));
                return index;
            }
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                var (l, c) = Position(lineStarts, (int)reader.TokenStartIndex);
                errors.Add(new ConfigError($"{file}:{l}:{c}", "an experiment config must be a JSON object ({ ... })"));
                return index;
            }
            containers.Add(new Container(false, new HashSet<string>(StringComparer.OrdinalIgnoreCase)));
            while (reader.Read())
            {
                var (line, column) = Position(lineStarts, (int)reader.TokenStartIndex);
                switch (reader.TokenType)
                {
                    case JsonTokenType.PropertyName:
                        pendingProperty = reader.GetString()!;
                        if (!containers[^1].Keys.Add(pendingProperty))
                            errors.Add(new ConfigError($"{file}:{line}:{column}", $"duplicate key '{pendingProperty}'"));
                        continue;
                    case JsonTokenType.EndObject:
                    case JsonTokenType.EndArray:
                        containers.RemoveAt(containers.Count - 1);
                        if (path.Count > 0) path.RemoveAt(path.Count - 1);
                        continue;
                }

                // A value: it belongs to the pending property or to the enclosing array.
                string segment;
                if (containers[^1].IsArray)
                {
                    int n = containers[^1].Count++;
                    segment = n.ToString(System.Globalization.CultureInfo.InvariantCulture);
                }
                else
                {
                    segment = pendingProperty!;
                }
                path.Add(segment);
                string keyPath = string.Join(':', path);
                index._positions[keyPath] = new Place(line, column);
                if (reader.TokenType is JsonTokenType.True or JsonTokenType.False) index._booleans.Add(keyPath);
                if (reader.TokenType == JsonTokenType.StartObject)
                {
                    containers.Add(new Container(false, new HashSet<string>(StringComparer.OrdinalIgnoreCase)));
                }
                else if (reader.TokenType == JsonTokenType.StartArray)
                {
                    containers.Add(new Container(true, new HashSet<string>()));
                }
                else
                {
                    path.RemoveAt(path.Count - 1);
                }
            }
        }
        catch (JsonException e)
        {
            long l = (e.LineNumber ?? 0) + 1;
            long c = (e.BytePositionInLine ?? 0) + 1;
            string message = e.Message;
            int cut = message.IndexOf(" LineNumber:", StringComparison.Ordinal);
            if (cut > 0) message = message[..cut].TrimEnd('.', ' ');
            errors.Add(new ConfigError($"{file}:{l}:{c}", $"malformed JSON: {message}"));
        }
        return index;
    }

    private static (int Line, int Column) Position(List<int> lineStarts, int offset)
    {
        int lo = 0, hi = lineStarts.Count - 1;
        while (lo < hi)
        {
            int mid = (lo + hi + 1) / 2;
            if (lineStarts[mid] <= offset) lo = mid;
            else hi = mid - 1;
        }
        return (lo + 1, offset - lineStarts[lo] + 1);
    }

    /// <summary>Whether the file gives <paramref name="keyPath"/> a JSON <c>true</c> or <c>false</c>.</summary>
    public bool IsBoolean(string keyPath) => _booleans.Contains(keyPath);

    /// <summary>The position of <paramref name="keyPath"/>, or of its nearest ancestor present in the file.</summary>
    public string? Locate(string keyPath)
    {
        var path = keyPath;
        while (true)
        {
            if (_positions.TryGetValue(path, out var p)) return $"{File}:{p.Line}:{p.Column}";
            int cut = path.LastIndexOf(':');
            if (cut < 0) return null;
            path = path[..cut];
        }
    }

    public bool Contains(string keyPath) => _positions.ContainsKey(keyPath);
}
