using VmLab.Traces;
using VmLab.Abstractions;
using VmLab.Abstractions.Traces;
using VmLab.Abstractions.Workloads;
using VmLab.Plugins.Workloads;

namespace VmLab.Plugins.Tests.Workloads;

/// <summary>Helpers shared by the workload tests: the repository's sample traces, reading a whole trace, a recording simulation.</summary>
internal static class TraceTestKit
{
    public static string RepoRoot
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "VmLab.sln"))) dir = dir.Parent;
            return dir?.FullName ?? throw new InvalidOperationException("VmLab.sln not found above " + AppContext.BaseDirectory);
        }
    }

    public static string Trace(string name) => Path.Combine(RepoRoot, "configs", "traces", name);

    /// <summary>Reads every access of <paramref name="reader"/> through a deliberately small, odd-sized batch.</summary>
    public static List<MemoryAccess> ReadAll(ITraceReader reader, int batch = 37)
    {
        using (reader)
        {
            var list = new List<MemoryAccess>();
            var buffer = new MemoryAccess[Math.Max(batch, reader.MaxAccessesPerRecord)];
            int n;
            while ((n = reader.Read(buffer)) > 0) list.AddRange(buffer.AsSpan(0, n));
            return list;
        }
    }

    /// <summary>The accesses a Lackey text means, by a plain reference reading of the format (string splitting).</summary>
    public static List<MemoryAccess> ReferenceLackey(IEnumerable<string> lines, int pid = 0)
    {
        var list = new List<MemoryAccess>();
        foreach (var raw in lines)
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith("==", StringComparison.Ordinal)) continue;
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var fields = parts[1].Split(',');
            ulong address = Convert.ToUInt64(fields[0], 16);
            ushort size = ushort.Parse(fields[1]);
            switch (parts[0])
            {
                case "I": list.Add(MemoryAccess.Fetch(address, size, pid)); break;
                case "L": list.Add(MemoryAccess.Read(address, size, pid)); break;
                case "S": list.Add(MemoryAccess.Write(address, size, pid)); break;
                case "M":
                    list.Add(MemoryAccess.Read(address, size, pid));
                    list.Add(MemoryAccess.Write(address, size, pid));
                    break;
                default: throw new InvalidDataException(line);
            }
        }
        return list;
    }

    public static string TempFile(string name)
    {
        var dir = Directory.CreateTempSubdirectory("vmlab-test-");
        return Path.Combine(dir.FullName, name);
    }
}

/// <summary>A simulation that records what it is given, batch by batch.</summary>
internal sealed class RecordingSimulation(int batchSize = 4096) : ISimulation
{
    public List<MemoryAccess> Accesses { get; } = [];
    public int Batches { get; private set; }
    public int PreferredBatchSize => batchSize;
    public IKernelApi Kernel => throw new NotSupportedException("a trace reader needs no system calls");

    /// <summary>Called at the start of every batch (to look at the workload while it runs).</summary>
    public Action? OnBatch { get; init; }

    public void Execute(ReadOnlySpan<MemoryAccess> batch)
    {
        OnBatch?.Invoke();
        Batches++;
        Accesses.AddRange(batch);
    }

    public void Report(in Expectation expectation) => throw new NotSupportedException("a trace reader checks no expectations");
}
