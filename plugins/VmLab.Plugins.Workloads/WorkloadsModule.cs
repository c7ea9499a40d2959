using VmLab.Abstractions.Plugins;
using VmLab.Plugins.Workloads.Synthetic;
using VmLab.Plugins.Workloads.Traces;

namespace VmLab.Plugins.Workloads;

/// <summary>Registers the trace readers and the synthetic generator.</summary>
public sealed class WorkloadsModule : IPluginModule
{
    public void Register(IPluginRegistry registry)
    {
        registry.AddWorkload<TraceWorkload, LackeyOptions>(
            "lackey",
            "Valgrind Lackey memory trace (plain, .gz, .xz, .zst): I fetch, L load, S store, M load+store.",
            c =>
            {
                string path = TracePath(c, c.Options.Path, "traces/ls.lackey.gz");
                var o = c.Options;
                return new TraceWorkload(() => Limit(LackeyReader.Open(path, c.KeyPath + ":options:path", o.Pid), o.Start, o.Limit));
            });
        registry.AddWorkload<TraceWorkload, ChampSimOptions>(
            "champsim",
            "ChampSim binary trace (input_instr 64 B or cloudsuite_instr 96 B; .xz, .gz): ip fetch, source loads, destination stores.",
            c =>
            {
                string path = TracePath(c, c.Options.Path, "traces/app.champsim.xz");
                var o = c.Options;
                return new TraceWorkload(() => Limit(
                    new ChampSimReader(TraceFile.Open(path, c.KeyPath + ":options:path"), path, o.Layout, o.Pid, o.UseAsid, o.Fetches, o.AccessSize),
                    o.Start, o.Limit));
            });
        registry.AddWorkload<TraceWorkload, DinOptions>(
            "din",
            "Dinero IV din (label address) or xdin (type address size) text trace.",
            c =>
            {
                string path = TracePath(c, c.Options.Path, "traces/app.din");
                var o = c.Options;
                return new TraceWorkload(() => Limit(new DinReader(TraceFile.Open(path, c.KeyPath + ":options:path"), path, o.Pid, o.AccessSize), o.Start, o.Limit));
            });
        registry.AddWorkload<TraceWorkload, VmtOptions>(
            "vmt",
            "VmLab's native binary trace (.vmt): delta-encoded records with kind, size, pid and mode, in indexed blocks.",
            c =>
            {
                string path = TracePath(c, c.Options.Path, "traces/ls.vmt");
                var o = c.Options;
                return new TraceWorkload(() => Limit(VmtReader.Open(path, c.KeyPath + ":options:path", o.PidOffset), o.Start, o.Limit));
            });
        registry.AddWorkload<SyntheticWorkload, SyntheticOptions>(
            "synthetic",
            "Seeded generator: sequential, stride, uniform, zipf, hot-cold, pointer-chase; phases; multi-process mixes by a scheduler quantum.",
            c => SyntheticWorkload.Create(c.Options, c.Seed));
    }

    private static string TracePath<T>(ComponentContext<T> c, string value, string example) where T : class
    {
        if (string.IsNullOrWhiteSpace(value))
            throw new VmLabInputException(c.KeyPath + ":options:path", $"a trace file is required, e.g. \"path\": \"{example}\"");
        string path = c.ResolvePath(value);
        if (!File.Exists(path))
            throw new VmLabInputException(c.KeyPath + ":options:path", $"trace file not found: {path}");
        return path;
    }

    private static TraceReader Limit(TraceReader reader, long start, long limit)
    {
        try
        {
            reader.Skip(start);
            reader.RecordLimit = limit == 0 ? long.MaxValue : start + limit;
            return reader;
        }
        catch
        {
            reader.Dispose();
            throw;
        }
    }
}
