using System.Globalization;
using System.Text;
using VmLab.Abstractions;
using VmLab.Abstractions.Plugins;

namespace VmLab.Traces;

/// <summary>The trace formats VmLab reads; the names are those of their workload plugins.</summary>
public enum TraceFormat
{
    Lackey,
    ChampSim,
    Cloudsuite,
    Din,
    Vmt,
}

/// <summary>Tells a trace's format from its content (and, where content cannot tell, its name); opens readers and writers.</summary>
public static class TraceFormats
{
    public const string Names = "lackey, champsim, cloudsuite, din, vmt";

    public static TraceFormat? Parse(string name) => name.ToLowerInvariant() switch
    {
        "lackey" => TraceFormat.Lackey,
        "champsim" => TraceFormat.ChampSim,
        "cloudsuite" => TraceFormat.Cloudsuite,
        "din" or "xdin" or "dinero" => TraceFormat.Din,
        "vmt" => TraceFormat.Vmt,
        _ => null,
    };

    public static string Name(TraceFormat f) => f.ToString().ToLowerInvariant();

    /// <summary>The format a file name asks for (compression extension ignored), or null.</summary>
    public static TraceFormat? FromName(string path)
    {
        string name = Path.GetFileName(TraceFile.StripCompression(path)).ToLowerInvariant();
        string ext = Path.GetExtension(name);
        return ext switch
        {
            ".vmt" => TraceFormat.Vmt,
            ".lackey" => TraceFormat.Lackey,
            ".din" or ".xdin" => TraceFormat.Din,
            ".champsim" or ".champsimtrace" => name.Contains("cloudsuite", StringComparison.Ordinal) ? TraceFormat.Cloudsuite : TraceFormat.ChampSim,
            ".trace" when name.Contains("champsim", StringComparison.Ordinal) => name.Contains("cloudsuite", StringComparison.Ordinal) ? TraceFormat.Cloudsuite : TraceFormat.ChampSim,
            _ => name.Contains("cloudsuite", StringComparison.Ordinal) ? TraceFormat.Cloudsuite
                : name.Contains("champsim", StringComparison.Ordinal) ? TraceFormat.ChampSim
                : null,
        };
    }

    /// <summary>
    /// The format of an existing trace, from its first decompressed bytes: the <c>.vmt</c> magic; text whose first record
    /// parses as Lackey or as din/xdin; otherwise binary, which is ChampSim (cloudsuite if the name says so).
    /// </summary>
    public static TraceFormat Detect(string path)
    {
        using var stream = TraceFile.Open(path, path);
        var head = new byte[4096];
        int n = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        var span = head.AsSpan(0, n);
        if (n == 0) throw new VmLabInputException(path, "the trace is empty");
        if (VmtFormat.HasMagic(span)) return TraceFormat.Vmt;
        bool text = true;
        foreach (byte b in span)
            if (b == 0 || (b < 0x20 && b != (byte)'\n' && b != (byte)'\r' && b != (byte)'\t')) { text = false; break; }
        if (text)
        {
            foreach (var raw in new LineEnumerator(span, n == head.Length))
            {
                if (LackeyReader.TryParse(raw, out _, out _, out _, out bool skip))
                {
                    if (skip) continue;
                    return TraceFormat.Lackey;
                }
                int din = DinReader.Parse(raw, 1, out _, out _, out _);
                if (din == 0) continue;
                if (din > 0) return TraceFormat.Din;
                throw new VmLabInputException($"{path}:1", $"text that is neither a Lackey nor a din/xdin trace: \"{TraceReader.Printable(raw)}\"; name the format with --from ({Names})");
            }
            throw new VmLabInputException(path, "no trace record in the first 4 KiB; name the format with --from");
        }
        return FromName(path) == TraceFormat.Cloudsuite ? TraceFormat.Cloudsuite : TraceFormat.ChampSim;
    }

    /// <summary>Opens a reader of <paramref name="format"/> with default options (pid 0, 1-byte accesses where the format has no sizes).</summary>
    public static TraceReader OpenReader(string path, TraceFormat format, string keyPath)
    {
        var stream = TraceFile.Open(path, keyPath);
        try
        {
            return format switch
            {
                TraceFormat.Lackey => new LackeyReader(stream, path, 0),
                TraceFormat.ChampSim => new ChampSimReader(stream, path, ChampSimLayout.Standard, 0, useAsid: false, fetches: true, accessSize: 1),
                TraceFormat.Cloudsuite => new ChampSimReader(stream, path, ChampSimLayout.Cloudsuite, 0, useAsid: true, fetches: true, accessSize: 1),
                TraceFormat.Din => new DinReader(stream, path, 0, 1),
                _ => new VmtReader(stream, path),
            };
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    private ref struct LineEnumerator(ReadOnlySpan<byte> span, bool dropLast)
    {
        private ReadOnlySpan<byte> _rest = span;
        public ReadOnlySpan<byte> Current { get; private set; }
        public readonly LineEnumerator GetEnumerator() => this;

        public bool MoveNext()
        {
            if (_rest.IsEmpty) return false;
            int nl = _rest.IndexOf((byte)'\n');
            if (nl < 0)
            {
                if (dropLast) return false;
                Current = _rest;
                _rest = default;
                return true;
            }
            Current = _rest[..nl];
            _rest = _rest[(nl + 1)..];
            return true;
        }
    }
}

/// <summary>A destination for accesses: a trace being written.</summary>
public interface ITraceWriter : IDisposable
{
    void Write(ReadOnlySpan<MemoryAccess> accesses);

    /// <summary>Completes the file (index, trailer, flush).</summary>
    void Finish();
}

/// <summary>Writes <c>.vmt</c> through <see cref="VmtWriter"/>.</summary>
public sealed class VmtTraceWriter(Stream output, int pageSize) : ITraceWriter
{
    private readonly VmtWriter _writer = new(output, pageSize);
    public VmtWriter Inner => _writer;
    public void Write(ReadOnlySpan<MemoryAccess> accesses) => _writer.Write(accesses);
    public void Finish() => _writer.Finish();
    public void Dispose() => _writer.Dispose();
}

/// <summary>
/// Writes Lackey text as valgrind prints it (<c>%08lx</c> addresses). A read followed by a write of the same address and
/// size is written as <c>M</c>. Lackey has no pid or kernel mode: accesses of more than one process or in kernel mode are refused.
/// </summary>
public sealed class LackeyTraceWriter(Stream output, string displayName) : ITraceWriter
{
    private readonly StreamWriter _out = new(output, new UTF8Encoding(false), 1 << 16) { NewLine = "\n" };
    private MemoryAccess _pending;
    private bool _hasPending;
    private int? _pid;

    public void Write(ReadOnlySpan<MemoryAccess> accesses)
    {
        foreach (ref readonly var a in accesses)
        {
            if (a.Mode == AccessMode.Kernel)
                throw new VmLabInputException(displayName, "Lackey text cannot hold kernel-mode accesses; write .vmt instead");
            _pid ??= a.Pid;
            if (a.Pid != _pid)
                throw new VmLabInputException(displayName, $"Lackey text holds one process, the trace has pids {_pid} and {a.Pid}; write .vmt instead");
            if (_hasPending)
            {
                _hasPending = false;
                if (a.Kind == AccessKind.Write && a.Address == _pending.Address && a.Size == _pending.Size)
                {
                    Line('M', _pending);
                    continue;
                }
                Line('L', _pending);
            }
            switch (a.Kind)
            {
                case AccessKind.Read:
                    _pending = a;
                    _hasPending = true;
                    break;
                case AccessKind.Write: Line('S', a); break;
                default: Line('I', a); break;
            }
        }
    }

    private void Line(char kind, in MemoryAccess a)
    {
        Span<char> buffer = stackalloc char[40];
        int i = 0;
        if (kind == 'I')
        {
            buffer[i++] = 'I';
            buffer[i++] = ' ';
        }
        else
        {
            buffer[i++] = ' ';
            buffer[i++] = kind;
        }
        buffer[i++] = ' ';
        a.Address.TryFormat(buffer[i..], out int w, "x8", CultureInfo.InvariantCulture);
        i += w;
        buffer[i++] = ',';
        a.Size.TryFormat(buffer[i..], out w, default, CultureInfo.InvariantCulture);
        i += w;
        _out.WriteLine(buffer[..i]);
    }

    public void Finish()
    {
        if (_hasPending)
        {
            _hasPending = false;
            Line('L', _pending);
        }
        _out.Flush();
    }

    public void Dispose() => _out.Dispose();
}

/// <summary>Writes Dinero din text (<c>label address</c>: 0 read, 1 write, 2 fetch). Sizes, pids and modes are not kept.</summary>
public sealed class DinTraceWriter(Stream output) : ITraceWriter
{
    private readonly StreamWriter _out = new(output, new UTF8Encoding(false), 1 << 16) { NewLine = "\n" };

    public void Write(ReadOnlySpan<MemoryAccess> accesses)
    {
        Span<char> buffer = stackalloc char[24];
        foreach (ref readonly var a in accesses)
        {
            buffer[0] = a.Kind switch { AccessKind.Write => '1', AccessKind.Fetch => '2', _ => '0' };
            buffer[1] = ' ';
            a.Address.TryFormat(buffer[2..], out int w, "x", CultureInfo.InvariantCulture);
            _out.WriteLine(buffer[..(2 + w)]);
        }
    }

    public void Finish() => _out.Flush();
    public void Dispose() => _out.Dispose();
}

public static class TraceWriters
{
    public const string Names = "vmt, lackey, din";

    /// <summary>A writer of <paramref name="format"/> into <paramref name="output"/>; ChampSim is read-only (its records need an instruction per access).</summary>
    public static ITraceWriter Create(TraceFormat format, Stream output, string displayName, int pageSize = 4096) => format switch
    {
        TraceFormat.Vmt => new VmtTraceWriter(output, pageSize),
        TraceFormat.Lackey => new LackeyTraceWriter(output, displayName),
        TraceFormat.Din => new DinTraceWriter(output),
        _ => throw new VmLabInputException(displayName, $"VmLab reads {TraceFormats.Name(format)} traces but does not write them; write one of {Names}"),
    };
}
