using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using VmLab.Abstractions;
using VmLab.Abstractions.Plugins;
using VmLab.Abstractions.Traces;
using VmLab.Abstractions.Workloads;

namespace VmLab.Traces;

public sealed record LackeyOptions
{
    [Description("Trace file (plain, .gz, .xz or .zst; compression is told by content), relative to the config file.")]
    [Required]
    [ExistingFile]
    public string Path { get; init; } = "";

    [Description("Process id the trace's accesses belong to.")]
    [Range(0, 65535)]
    public int Pid { get; init; }

    [Description("The traced process's /proc/PID/maps text: its VMAs replace the implicit address space, so accesses outside them fault. Empty: every address is valid memory.")]
    [ExistingFile]
    public string Maps { get; init; } = "";

    [Description("What the maps file's permissions mean: extent (only addresses outside every VMA fault) or recorded (the snapshot's permissions apply, which may refuse accesses made before a later mprotect).")]
    public MapsProtections MapsProtections { get; init; } = MapsProtections.Extent;

    [Description("Records to skip at the start of the trace.")]
    [Range(typeof(long), "0", "9223372036854775807")]
    public long Start { get; init; }

    [Description("Stop after this many records (0 = the whole trace).")]
    [Range(typeof(long), "0", "9223372036854775807")]
    public long Limit { get; init; }
}

/// <summary>The <c>lackey</c> workload: a <see cref="LackeyReader"/> run through <see cref="TraceWorkload"/>, honouring pid, start and limit.</summary>
/// <param name="formats">The trace formats to recognise a file given by mistake (a <c>.vmt</c>): the host's catalog, or the built-in formats.</param>
/// <param name="workloadFor">The workload that reads a format of that name, if any.</param>
public sealed class LackeyWorkload(LackeyOptions options, string path, string keyPath, string? mapsPath = null,
    IReadOnlyList<ITraceFormat>? formats = null, Func<string, string?>? workloadFor = null) : ITraceWorkload
{
    private readonly TraceWorkload _trace = new(() => TraceWorkload.Range(
        new LackeyReader(TraceInput.OpenExpecting(path, keyPath + ":path", TraceFormats.Lackey, formats ?? TraceFormats.BuiltIn, workloadFor), path, options.Pid),
        options.Start, options.Limit));

    public double? Progress => _trace.Progress;

    public void Run(ISimulation simulation, CancellationToken cancellationToken)
    {
        if (mapsPath is not null) Prepare(simulation.Kernel);
        Stream(simulation, cancellationToken);
    }

    public void Prepare(IKernelApi kernel)
    {
        if (mapsPath is not null) ProcMaps.Apply(kernel, options.Pid, mapsPath, kernel.UserTop, options.MapsProtections);
    }

    public void Stream(ISimulation simulation, CancellationToken cancellationToken) => _trace.Stream(simulation, cancellationToken);
}

/// <summary>
/// Valgrind Lackey (<c>--trace-mem=yes</c>) text: <c>I  addr,size</c> (fetch), <c> L</c> (load), <c> S</c> (store),
/// <c> M</c> (modify: a load then a store). Lines of valgrind's own output (<c>==pid==</c>) and blank lines are skipped.
/// </summary>
public sealed class LackeyReader : TraceReader
{
    private readonly LineSource _lines;
    private readonly int _pid;

    public LackeyReader(Stream stream, string path, int pid) : base(path, stream)
    {
        _lines = new LineSource(stream, path, "Lackey");
        _pid = pid;
    }

    public static LackeyReader Open(string path, string keyPath, int pid) => new(TraceFile.Open(path, keyPath), path, pid);

    public override int MaxAccessesPerRecord => 2;

    public override int Read(Span<MemoryAccess> destination)
    {
        int n = 0;
        long records = Records;
        long limit = RecordLimit;
        int pid = _pid;
        while (n + 2 <= destination.Length && records < limit && _lines.TryReadLine(out var line))
        {
            if (!TryParse(line, out char kind, out ulong address, out ushort size, out bool skip))
                throw Malformed(line);
            if (skip) continue;
            records++;
            switch (kind)
            {
                case 'I':
                    destination[n++] = new MemoryAccess(address, pid, size, AccessKind.Fetch, AccessMode.User);
                    break;
                case 'L':
                    destination[n++] = new MemoryAccess(address, pid, size, AccessKind.Read, AccessMode.User);
                    break;
                case 'S':
                    destination[n++] = new MemoryAccess(address, pid, size, AccessKind.Write, AccessMode.User);
                    break;
                default:
                    destination[n++] = new MemoryAccess(address, pid, size, AccessKind.Read, AccessMode.User);
                    destination[n++] = new MemoryAccess(address, pid, size, AccessKind.Write, AccessMode.User);
                    break;
            }
        }
        Records = records;
        Accesses += n;
        return n;
    }

    private VmLabInputException Malformed(ReadOnlySpan<byte> line) =>
        new(_lines.Where,
            $"malformed Lackey record \"{Printable(line)}\"; expected \"I  <hex address>,<size>\" or \" L|S|M <hex address>,<size>\" as written by valgrind --tool=lackey --trace-mem=yes");

    protected override void Dispose(bool disposing)
    {
        if (disposing) _lines.Dispose();
    }

    /// <summary>Parses one line; <paramref name="skip"/> for blank lines and valgrind's own <c>==pid==</c> lines.</summary>
    public static bool TryParse(ReadOnlySpan<byte> line, out char kind, out ulong address, out ushort size, out bool skip)
    {
        kind = '\0';
        address = 0;
        size = 0;
        skip = false;
        int i = 0;
        while (i < line.Length && line[i] == (byte)' ') i++;
        if (i == line.Length || (line[i] == (byte)'\r' && i == line.Length - 1))
        {
            skip = true;
            return true;
        }
        if (line[i] == (byte)'=' && i + 1 < line.Length && line[i + 1] == (byte)'=')
        {
            skip = true;
            return true;
        }
        byte k = line[i++];
        if (k != (byte)'I' && k != (byte)'L' && k != (byte)'S' && k != (byte)'M') return false;
        kind = (char)k;
        int spaces = 0;
        while (i < line.Length && line[i] == (byte)' ') { i++; spaces++; }
        if (spaces == 0) return false;
        int digits = 0;
        while (i < line.Length)
        {
            int v = Text.HexValue(line[i]);
            if (v < 0) break;
            if (address >> 60 != 0) return false;
            address = (address << 4) | (uint)v;
            digits++;
            i++;
        }
        if (digits == 0 || i == line.Length || line[i] != (byte)',') return false;
        i++;
        int sizeDigits = 0;
        uint s = 0;
        while (i < line.Length && line[i] >= (byte)'0' && line[i] <= (byte)'9')
        {
            s = s * 10 + (uint)(line[i] - '0');
            if (s > ushort.MaxValue) return false;
            sizeDigits++;
            i++;
        }
        if (sizeDigits == 0) return false;
        while (i < line.Length && (line[i] == (byte)' ' || line[i] == (byte)'\r')) i++;
        if (i != line.Length) return false;
        size = (ushort)s;
        return true;
    }
}
