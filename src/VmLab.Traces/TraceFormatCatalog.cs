using VmLab.Abstractions.Plugins;
using VmLab.Abstractions.Traces;

namespace VmLab.Traces;

/// <summary>
/// The trace formats registered with the host (extension point <c>trace-format</c>) and the rules
/// for choosing among them: by name, by the longest matching file-name ending, or by the surest sniff of the first
/// bytes with the file name breaking a tie.
/// </summary>
public sealed class TraceFormatCatalog : ITraceFormatCatalog
{
    private readonly List<ITraceFormat> _formats = [];

    public TraceFormatCatalog(IEnumerable<ITraceFormat> formats) => _formats.AddRange(formats.OrderBy(f => f.Name, StringComparer.Ordinal));

    public IReadOnlyList<ITraceFormat> Formats => _formats;

    /// <summary>The names, comma-separated, for messages.</summary>
    public string Names => string.Join(", ", _formats.Select(f => f.Name));

    public ITraceFormat? Find(string name) =>
        _formats.FirstOrDefault(f => string.Equals(f.Name, name, StringComparison.OrdinalIgnoreCase));

    public ITraceFormat? FromFileName(string fileName)
    {
        string name = StripCompression(Path.GetFileName(fileName));
        ITraceFormat? best = null;
        int bestLength = 0;
        foreach (var format in _formats)
            foreach (var ext in format.Extensions)
                if (ext.Length > bestLength && name.EndsWith(ext, StringComparison.OrdinalIgnoreCase))
                {
                    best = format;
                    bestLength = ext.Length;
                }
        return best;
    }

    public (ITraceFormat? Format, TraceMatch Match) Best(ReadOnlySpan<byte> head, bool complete, string path)
    {
        string fileName = Path.GetFileName(path);
        var byName = FromFileName(fileName);
        ITraceFormat? best = null;
        var bestMatch = TraceMatch.No;
        foreach (var format in _formats)
        {
            TraceMatch m;
            try
            {
                m = format.Sniff(head, complete, fileName);
            }
            catch (Exception)
            {
                m = TraceMatch.No; // a format whose sniffing breaks cannot claim the file
            }
            if (m > bestMatch || (m == bestMatch && m != TraceMatch.No && format == byName))
            {
                best = format;
                bestMatch = m;
            }
        }
        return (best, bestMatch);
    }

    public ITraceFormat Detect(ReadOnlySpan<byte> head, bool complete, string path)
    {
        if (head.IsEmpty) throw new VmLabInputException(path, "the trace is empty");
        var (best, match) = Best(head, complete, path);
        if (best is null)
            throw new VmLabInputException(path,
                $"no trace format recognises this file (it starts with \"{Printable(head)}\"); name the format with --from or the workload's \"format\" option (formats: {Names})");
        var byName = FromFileName(path);
        if (byName != best)
        {
            var tied = new List<string>();
            foreach (var f in _formats)
                if (f != best && SafeSniff(f, head, complete, path) == match) tied.Add(f.Name);
            if (tied.Count > 0)
                throw new VmLabInputException(path,
                    $"the trace could be {best.Name} or {string.Join(" or ", tied)}; name the format with --from or the workload's \"format\" option, or end the file name in one of its extensions");
        }
        return best;
    }

    private static TraceMatch SafeSniff(ITraceFormat f, ReadOnlySpan<byte> head, bool complete, string path)
    {
        try
        {
            return f.Sniff(head, complete, Path.GetFileName(path));
        }
        catch (Exception)
        {
            return TraceMatch.No;
        }
    }

    private static string StripCompression(string name) => TraceFile.StripCompression(name);

    private static string Printable(ReadOnlySpan<byte> head)
    {
        var sb = new System.Text.StringBuilder();
        foreach (byte b in head[..Math.Min(head.Length, 40)])
        {
            if (b == (byte)'\n') break;
            sb.Append(b is >= 0x20 and < 0x7f ? (char)b : '?');
        }
        return sb.ToString();
    }
}
