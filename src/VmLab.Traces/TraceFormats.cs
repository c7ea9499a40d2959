using System.Globalization;
using System.Text;
using VmLab.Abstractions;
using VmLab.Abstractions.Plugins;
using VmLab.Abstractions.Traces;

namespace VmLab.Traces;

/// <summary>
/// The trace formats of VmLab.Traces, as <see cref="ITraceFormat"/> registrations (the workloads plugin registers
/// them): Lackey, ChampSim (standard and cloudsuite layouts), Dinero din/xdin and VmLab's own <c>.vmt</c>.
/// </summary>
public static class TraceFormats
{
    public static ITraceFormat Lackey { get; } = new LackeyTraceFormat();
    public static ITraceFormat ChampSim { get; } = new ChampSimTraceFormat(ChampSimLayout.Standard);
    public static ITraceFormat Cloudsuite { get; } = new ChampSimTraceFormat(ChampSimLayout.Cloudsuite);
    public static ITraceFormat Din { get; } = new DinTraceFormat();
    public static ITraceFormat Vmt { get; } = new VmtTraceFormat();

    /// <summary>Every built-in format.</summary>
    public static IReadOnlyList<ITraceFormat> BuiltIn { get; } = [ChampSim, Cloudsuite, Din, Lackey, Vmt];

    /// <summary>Whether <paramref name="head"/> looks like text: no NUL and no control byte but tab, CR and LF.</summary>
    public static bool IsText(ReadOnlySpan<byte> head)
    {
        foreach (byte b in head)
            if (b == 0 || (b < 0x20 && b != (byte)'\n' && b != (byte)'\r' && b != (byte)'\t')) return false;
        return true;
    }

    /// <summary>
    /// The lines of a text head; the last one only when <paramref name="complete"/> or it ends in a newline (a cut line
    /// would not parse).
    /// </summary>
    public static LineEnumerator Lines(ReadOnlySpan<byte> head, bool complete) => new(head, !complete);

    public ref struct LineEnumerator(ReadOnlySpan<byte> span, bool dropLast)
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

/// <summary>Valgrind Lackey text: the first record line (valgrind's own <c>==pid==</c> lines and blank lines skipped) parses.</summary>
internal sealed class LackeyTraceFormat : ITraceFormat
{
    public string Name => "lackey";
    public string Description => "Valgrind Lackey text (--tool=lackey --trace-mem=yes): I fetch, L load, S store, M load+store, hex address and size.";
    public IReadOnlyList<string> Extensions { get; } = [".lackey"];
    public bool CanWrite => true;

    public TraceMatch Sniff(ReadOnlySpan<byte> head, bool complete, string fileName)
    {
        if (!TraceFormats.IsText(head)) return TraceMatch.No;
        foreach (var line in TraceFormats.Lines(head, complete))
        {
            if (!LackeyReader.TryParse(line, out _, out _, out _, out bool skip)) return TraceMatch.No;
            if (!skip) return TraceMatch.Likely;
        }
        return TraceMatch.No;
    }

    public ITraceReader OpenReader(Stream input, TraceReaderOptions options) => new LackeyReader(input, options.Path, options.Pid);

    public ITraceWriter CreateWriter(Stream output, TraceWriterOptions options) => new LackeyTraceWriter(output, options.Path);
}

/// <summary>Dinero din/xdin text: the first non-blank line parses as either.</summary>
internal sealed class DinTraceFormat : ITraceFormat
{
    public string Name => "din";
    public string Description => "Dinero IV din (label address) or xdin (type address size) text; written as din.";
    public IReadOnlyList<string> Extensions { get; } = [".din", ".xdin"];
    public bool CanWrite => true;

    public TraceMatch Sniff(ReadOnlySpan<byte> head, bool complete, string fileName)
    {
        if (!TraceFormats.IsText(head)) return TraceMatch.No;
        foreach (var line in TraceFormats.Lines(head, complete))
        {
            int r = DinReader.Parse(line, 1, out _, out _, out _);
            if (r == 0) continue;
            return r > 0 ? TraceMatch.Likely : TraceMatch.No;
        }
        return TraceMatch.No;
    }

    public ITraceReader OpenReader(Stream input, TraceReaderOptions options) => new DinReader(input, options.Path, options.Pid, options.AccessSize);

    public ITraceWriter CreateWriter(Stream output, TraceWriterOptions options) => new DinTraceWriter(output);
}

/// <summary>VmLab's <c>.vmt</c>: its magic.</summary>
internal sealed class VmtTraceFormat : ITraceFormat
{
    public string Name => "vmt";
    public string Description => "VmLab's native binary trace (.vmt): delta-encoded records with kind, size, pid and mode, in indexed blocks.";
    public IReadOnlyList<string> Extensions { get; } = [".vmt"];
    public bool CanWrite => true;

    public TraceMatch Sniff(ReadOnlySpan<byte> head, bool complete, string fileName) =>
        VmtFormat.HasMagic(head) ? TraceMatch.Certain : TraceMatch.No;

    public ITraceReader OpenReader(Stream input, TraceReaderOptions options) => new VmtReader(input, options.Path, options.Pid);

    public ITraceWriter CreateWriter(Stream output, TraceWriterOptions options) => new VmtTraceWriter(output, options.PageSize);
}

/// <summary>
/// ChampSim binary records have no header: any binary file is one, as a fallback. The cloudsuite layout is told from
/// the standard one only by the file name (it contains <c>cloudsuite</c>).
/// </summary>
internal sealed class ChampSimTraceFormat(ChampSimLayout layout) : ITraceFormat
{
    public string Name => layout == ChampSimLayout.Standard ? "champsim" : "cloudsuite";

    public string Description => layout == ChampSimLayout.Standard
        ? "ChampSim binary trace, input_instr records of 64 bytes (read only): ip fetch, source loads, destination stores."
        : "ChampSim cloudsuite_instr binary trace, 96-byte records with an ASID used as the pid (read only).";

    public IReadOnlyList<string> Extensions { get; } = layout == ChampSimLayout.Standard
        ? [".champsim", ".champsimtrace", ".champsim.trace"]
        : [".cloudsuite.champsim", ".cloudsuite.champsimtrace", ".cloudsuite.champsim.trace", ".cloudsuite"];

    public bool CanWrite => false;

    public TraceMatch Sniff(ReadOnlySpan<byte> head, bool complete, string fileName)
    {
        if (head.IsEmpty || TraceFormats.IsText(head) || VmtFormat.HasMagic(head)) return TraceMatch.No;
        bool cloudsuite = fileName.Contains("cloudsuite", StringComparison.OrdinalIgnoreCase);
        return cloudsuite == (layout == ChampSimLayout.Cloudsuite) ? TraceMatch.Fallback : TraceMatch.No;
    }

    public ITraceReader OpenReader(Stream input, TraceReaderOptions options) =>
        new ChampSimReader(input, options.Path, layout, options.Pid, useAsid: layout == ChampSimLayout.Cloudsuite, fetches: true, accessSize: options.AccessSize);

    public ITraceWriter CreateWriter(Stream output, TraceWriterOptions options) =>
        throw new VmLabInputException(options.Path, $"VmLab reads {Name} traces but does not write them (a record needs an instruction per access); write vmt, lackey or din");
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
