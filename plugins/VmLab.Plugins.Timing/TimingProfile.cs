using System.Globalization;
using System.Text.Json;

namespace VmLab.Plugins.Timing;

/// <summary>The latency of a swap device, per page read (swap-in) and written (swap-out).</summary>
/// <param name="Kind">zram, ssd or hdd.</param>
public sealed record SwapDeviceProfile(string Kind, double ReadMicros, double WriteMicros)
{
    /// <summary>
    /// The latencies a kind stands for when a profile gives none (docs/timing.md says where they come from):
    /// zram 2/3 µs, ssd 80/100 µs, hdd 8000/8000 µs.
    /// </summary>
    public static IReadOnlyDictionary<string, (double Read, double Write)> Presets { get; } = new Dictionary<string, (double, double)>(StringComparer.Ordinal)
    {
        ["zram"] = (2.0, 3.0),
        ["ssd"] = (80.0, 100.0),
        ["hdd"] = (8000.0, 8000.0),
    };

    public static SwapDeviceProfile Preset(string kind) => new(kind, Presets[kind].Read, Presets[kind].Write);
}

/// <summary>
/// A timing profile (docs/timing.md, "The profile file"): the cost in cycles of each event the analytic model
/// charges, the clock that turns cycles into seconds, the swap device, and where the figures come from. The same
/// file format is written by <c>vmlab calibrate</c>.
/// </summary>
public sealed record TimingProfile(
    string Name,
    double ClockGHz,
    IReadOnlyList<string> Sources,
    IReadOnlyDictionary<string, double> Cycles,
    IReadOnlyList<double> TlbHit,
    SwapDeviceProfile SwapDevice)
{
    /// <summary>Every key of <c>cycles</c> besides the per-level <c>tlbHit</c> array, in the file's order; all are required.</summary>
    public static IReadOnlyList<string> CycleKeys { get; } =
    [
        "walkCacheHit", "memoryAccess", "faultEntryExit", "demandZero", "zeroPageMap", "cowCopy", "cowReuse", "swapIn",
        "fileCacheHit", "fileRead", "stackGrowth", "signalDelivery", "sigreturn", "tlbFlush", "tlbFlushPage", "shootdownIpi",
        "syscallEntryExit", "pageTablePageCopied", "pageUnmapped", "pageProtected", "vmaChange", "reclaimScan", "reclaimEvict",
    ];

    private static readonly string[] TopKeys = ["name", "clockGHz", "sources", "cycles", "swapDevice"];
    private static readonly string[] SwapKeys = ["kind", "readMicros", "writeMicros"];

    /// <summary>The cost of one event named by <paramref name="key"/> (a <see cref="CycleKeys"/> entry).</summary>
    public double this[string key] => Cycles[key];

    /// <summary>The cost of a TLB hit at <paramref name="level"/> (1 = L1); a level past the list costs what the last one does.</summary>
    public double TlbHitAt(int level) => TlbHit[Math.Clamp(level, 1, TlbHit.Count) - 1];

    /// <summary>Cycles of one swap-in's device read at the profile's clock.</summary>
    public double SwapReadCycles => SwapDevice.ReadMicros * 1000.0 * ClockGHz;

    /// <summary>Cycles of one swap-out's device write at the profile's clock.</summary>
    public double SwapWriteCycles => SwapDevice.WriteMicros * 1000.0 * ClockGHz;

    /// <summary>Reads and checks a profile file; every problem is a <see cref="TimingProfileException"/> naming the file and the key path.</summary>
    public static TimingProfile Load(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TimingProfileException(path, "", $"cannot be read: {e.Message}");
        }
        return Parse(text, path);
    }

    /// <summary>Parses profile JSON (comments and trailing commas allowed); <paramref name="file"/> names it in errors.</summary>
    public static TimingProfile Parse(string json, string file)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            string where = e.LineNumber is { } line ? $"{file}:{line + 1}:{(e.BytePositionInLine ?? 0) + 1}" : file;
            throw new TimingProfileException(where, "", $"is not valid JSON: {FirstSentence(e.Message)}");
        }
        using (document)
        {
            var errors = new List<(string Path, string Message)>();
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new TimingProfileException(file, "", "must be a JSON object with name, clockGHz, sources, cycles and swapDevice");
            CheckKeys(root, "", TopKeys, errors);

            string name = String(root, "name", errors) ?? "";
            double clock = Number(root, "clockGHz", "clockGHz", errors, positive: true) ?? 1;
            var sources = new List<string>();
            if (Required(root, "sources", "sources", errors) is { } s)
            {
                if (s.ValueKind != JsonValueKind.Array) errors.Add(("sources", $"expected an array of strings (citations, provenance), got {Kind(s)}"));
                else
                {
                    int i = 0;
                    foreach (var item in s.EnumerateArray())
                    {
                        if (item.ValueKind == JsonValueKind.String) sources.Add(item.GetString()!);
                        else errors.Add(($"sources:{i}", $"expected a string, got {Kind(item)}"));
                        i++;
                    }
                }
            }

            var cycles = new Dictionary<string, double>(StringComparer.Ordinal);
            var tlbHit = new List<double>();
            if (Required(root, "cycles", "cycles", errors) is { } c)
            {
                if (c.ValueKind != JsonValueKind.Object) errors.Add(("cycles", $"expected an object of cycles per event, got {Kind(c)}"));
                else
                {
                    CheckKeys(c, "cycles", ["tlbHit", .. CycleKeys], errors);
                    if (Required(c, "tlbHit", "cycles:tlbHit", errors) is { } t)
                    {
                        if (t.ValueKind != JsonValueKind.Array || t.GetArrayLength() == 0)
                            errors.Add(("cycles:tlbHit", $"expected an array of cycles per TLB level, L1 first (e.g. [1, 7]), got {Kind(t)}"));
                        else
                        {
                            int i = 0;
                            foreach (var item in t.EnumerateArray())
                            {
                                if (NumberValue(item, $"cycles:tlbHit:{i}", errors, positive: false) is { } v) tlbHit.Add(v);
                                i++;
                            }
                        }
                    }
                    foreach (string key in CycleKeys)
                        if (Number(c, key, $"cycles:{key}", errors, positive: false) is { } v) cycles[key] = v;
                }
            }

            SwapDeviceProfile? swap = null;
            if (Required(root, "swapDevice", "swapDevice", errors) is { } d)
            {
                if (d.ValueKind != JsonValueKind.Object) errors.Add(("swapDevice", $"expected an object {{ \"kind\": \"zram|ssd|hdd\", \"readMicros\", \"writeMicros\" }}, got {Kind(d)}"));
                else
                {
                    CheckKeys(d, "swapDevice", SwapKeys, errors);
                    string? kind = String(d, "kind", errors, "swapDevice:kind");
                    if (kind is not null && !SwapDeviceProfile.Presets.ContainsKey(kind))
                        errors.Add(("swapDevice:kind", $"unknown swap device '{kind}'; allowed: {string.Join(", ", SwapDeviceProfile.Presets.Keys)}"));
                    else if (kind is not null)
                    {
                        var preset = SwapDeviceProfile.Presets[kind];
                        double read = d.TryGetProperty("readMicros", out _) ? Number(d, "readMicros", "swapDevice:readMicros", errors, positive: false) ?? 0 : preset.Read;
                        double write = d.TryGetProperty("writeMicros", out _) ? Number(d, "writeMicros", "swapDevice:writeMicros", errors, positive: false) ?? 0 : preset.Write;
                        swap = new SwapDeviceProfile(kind, read, write);
                    }
                }
            }

            if (errors.Count > 0)
            {
                var (first, message) = errors[0];
                string more = errors.Count > 1 ? $" (and {errors.Count - 1} more: {string.Join("; ", errors.Skip(1).Select(e => $"{e.Path} {e.Message}"))})" : "";
                throw new TimingProfileException(file, first, message + more);
            }
            return new TimingProfile(name, clock, sources, cycles, tlbHit, swap!);
        }
    }

    /// <summary>The profile with <paramref name="cycles"/> replacing single costs and, when given, another clock or swap device.</summary>
    public TimingProfile With(IReadOnlyDictionary<string, double> cycles, IReadOnlyList<double>? tlbHit, double? clockGHz, string? swapDevice)
    {
        var merged = new Dictionary<string, double>(Cycles, StringComparer.Ordinal);
        foreach (var (k, v) in cycles) merged[k] = v;
        return this with
        {
            Cycles = merged,
            TlbHit = tlbHit is { Count: > 0 } ? tlbHit : TlbHit,
            ClockGHz = clockGHz ?? ClockGHz,
            SwapDevice = swapDevice is null ? SwapDevice : SwapDeviceProfile.Preset(swapDevice),
        };
    }

    private static void CheckKeys(JsonElement obj, string path, IReadOnlyList<string> allowed, List<(string, string)> errors)
    {
        foreach (var p in obj.EnumerateObject())
        {
            if (allowed.Contains(p.Name)) continue;
            string near = allowed.OrderBy(a => Distance(a.ToLowerInvariant(), p.Name.ToLowerInvariant())).First();
            string hint = Distance(near.ToLowerInvariant(), p.Name.ToLowerInvariant()) <= Math.Max(2, near.Length / 3) ? $"did you mean '{near}'? " : "";
            errors.Add((Join(path, p.Name), $"unknown key '{p.Name}'; {hint}allowed: {string.Join(", ", allowed)}"));
        }
    }

    private static JsonElement? Required(JsonElement obj, string key, string path, List<(string, string)> errors)
    {
        if (obj.TryGetProperty(key, out var v)) return v;
        errors.Add((path, "is required (docs/timing.md lists every key)"));
        return null;
    }

    private static string? String(JsonElement obj, string key, List<(string, string)> errors, string? path = null)
    {
        path ??= key;
        if (Required(obj, key, path, errors) is not { } v) return null;
        if (v.ValueKind == JsonValueKind.String) return v.GetString();
        errors.Add((path, $"expected a string, got {Kind(v)}"));
        return null;
    }

    private static double? Number(JsonElement obj, string key, string path, List<(string, string)> errors, bool positive) =>
        Required(obj, key, path, errors) is { } v ? NumberValue(v, path, errors, positive) : null;

    private static double? NumberValue(JsonElement v, string path, List<(string, string)> errors, bool positive)
    {
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out double d) || !double.IsFinite(d))
        {
            errors.Add((path, $"expected a number, got {Kind(v)}"));
            return null;
        }
        if (positive ? d <= 0 : d < 0)
        {
            errors.Add((path, $"is {d.ToString(CultureInfo.InvariantCulture)}; allowed: {(positive ? "a number above 0" : "a number of at least 0")}"));
            return null;
        }
        return d;
    }

    private static string Kind(JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.String => $"the string \"{v.GetString()}\"",
        JsonValueKind.Number => $"the number {v.GetRawText()}",
        JsonValueKind.Array => "an array",
        JsonValueKind.Object => "an object",
        JsonValueKind.True or JsonValueKind.False => v.GetRawText(),
        _ => "null",
    };

    private static string Join(string path, string key) => path.Length == 0 ? key : $"{path}:{key}";

    private static string FirstSentence(string message)
    {
        int cut = message.IndexOf(". ", StringComparison.Ordinal);
        return cut < 0 ? message : message[..(cut + 1)];
    }

    private static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (int j = 0; j <= b.Length; j++) d[0, j] = j;
        for (int i = 1; i <= a.Length; i++)
            for (int j = 1; j <= b.Length; j++)
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
        return d[a.Length, b.Length];
    }
}

/// <summary>A timing profile that cannot be used: the file (or file:line:column), the key path inside it, and what is allowed.</summary>
public sealed class TimingProfileException(string file, string keyPath, string message)
    : Exception(keyPath.Length == 0 ? $"{file}: {message}" : $"{file}: {keyPath}: {message}")
{
    public string File { get; } = file;
    public string KeyPath { get; } = keyPath;
    public string Detail { get; } = message;
}
