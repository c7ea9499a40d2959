using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Text;
using VmLab.Abstractions;
using VmLab.Abstractions.Plugins;
using VmLab.Abstractions.Workloads;

namespace VmLab.Plugins.Workloads;

public sealed record LackeyOptions
{
    [Description("Trace file (plain or gzip), relative to the config file.")]
    [Required]
    [ExistingFile]
    public string Path { get; init; } = "";

    [Description("Process id the trace's accesses belong to.")]
    [Range(0, 65535)]
    public int Pid { get; init; }

    [Description("Stop after this many records (0 = the whole trace).")]
    [Range(typeof(long), "0", "9223372036854775807")]
    public long Limit { get; init; }
}

/// <summary>
/// Valgrind Lackey (<c>--trace-mem=yes</c>) text: <c>I  addr,size</c> (fetch), <c> L</c> (load), <c> S</c> (store),
/// <c> M</c> (modify: a load then a store). Lines of valgrind's own output (<c>==pid==</c>) are skipped.
/// Streamed through a fixed buffer: memory stays bounded whatever the length.
/// </summary>
public sealed class LackeyWorkload(LackeyOptions options, string path, string keyPath) : IReplayableWorkload
{
    private const int BufferSize = 1 << 16;

    public void Run(ISimulation simulation, CancellationToken cancellationToken)
    {
        using var stream = TraceFile.Open(path, keyPath + ":path");
        var batch = new MemoryAccess[Math.Max(2, simulation.PreferredBatchSize)];
        int count = 0;
        long records = 0;
        long limit = options.Limit == 0 ? long.MaxValue : options.Limit;
        int pid = options.Pid;

        var buffer = new byte[BufferSize];
        int start = 0, end = 0;
        long lineNumber = 0;
        bool eof = false;
        while (records < limit)
        {
            int newline = buffer.AsSpan(start, end - start).IndexOf((byte)'\n');
            ReadOnlySpan<byte> line;
            if (newline >= 0)
            {
                line = buffer.AsSpan(start, newline);
                start += newline + 1;
            }
            else if (!eof)
            {
                if (start > 0)
                {
                    buffer.AsSpan(start, end - start).CopyTo(buffer);
                    end -= start;
                    start = 0;
                }
                if (end == buffer.Length)
                    throw new VmLabInputException($"{path}:{lineNumber + 1}", $"line longer than {BufferSize} bytes; this is not a Lackey trace");
                int n = stream.Read(buffer, end, buffer.Length - end);
                if (n == 0) eof = true;
                end += n;
                continue;
            }
            else if (start < end)
            {
                line = buffer.AsSpan(start, end - start);
                start = end;
            }
            else break;

            lineNumber++;
            if (!TryParse(line, out var kind, out ulong address, out ushort size, out bool skip))
                throw Malformed(lineNumber, line);
            if (skip) continue;

            if (count + 2 > batch.Length)
            {
                cancellationToken.ThrowIfCancellationRequested();
                simulation.Execute(batch.AsSpan(0, count));
                count = 0;
            }
            records++;
            if (kind == 'M')
            {
                batch[count++] = new MemoryAccess(address, pid, size, AccessKind.Read, AccessMode.User);
                batch[count++] = new MemoryAccess(address, pid, size, AccessKind.Write, AccessMode.User);
            }
            else
            {
                var k = kind switch { 'I' => AccessKind.Fetch, 'S' => AccessKind.Write, _ => AccessKind.Read };
                batch[count++] = new MemoryAccess(address, pid, size, k, AccessMode.User);
            }
        }
        if (count > 0) simulation.Execute(batch.AsSpan(0, count));
    }

    private VmLabInputException Malformed(long lineNumber, ReadOnlySpan<byte> line)
    {
        var text = Encoding.UTF8.GetString(line.Length > 80 ? line[..80] : line).TrimEnd('\r');
        return new VmLabInputException($"{path}:{lineNumber}",
            $"malformed Lackey record \"{text}\"; expected \"I  <hex address>,<size>\" or \" L|S|M <hex address>,<size>\" as written by valgrind --tool=lackey --trace-mem=yes");
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
            int v = HexValue(line[i]);
            if (v < 0) break;
            if (digits == 16) return false;
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

    private static int HexValue(byte c) => c switch
    {
        >= (byte)'0' and <= (byte)'9' => c - '0',
        >= (byte)'a' and <= (byte)'f' => c - 'a' + 10,
        >= (byte)'A' and <= (byte)'F' => c - 'A' + 10,
        _ => -1,
    };
}

public sealed class WorkloadsModule : IPluginModule
{
    public void Register(IPluginRegistry registry) =>
        registry.AddWorkload<LackeyWorkload, LackeyOptions>(
            "lackey",
            "Valgrind Lackey memory trace (plain or .gz): I fetch, L load, S store, M load+store.",
            c =>
            {
                if (string.IsNullOrWhiteSpace(c.Options.Path))
                    throw new VmLabInputException(c.KeyPath + ":options:path", "a trace file is required, e.g. \"path\": \"traces/ls.lackey.gz\"");
                string path = c.ResolvePath(c.Options.Path);
                if (!File.Exists(path))
                    throw new VmLabInputException(c.KeyPath + ":options:path", $"trace file not found: {path}");
                return new LackeyWorkload(c.Options, path, c.KeyPath + ":options");
            });
}
