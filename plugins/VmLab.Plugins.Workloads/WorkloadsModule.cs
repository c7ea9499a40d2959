using VmLab.Traces;
using VmLab.Abstractions.Plugins;
using VmLab.Abstractions.Traces;
using VmLab.Plugins.Workloads.Synthetic;

namespace VmLab.Plugins.Workloads;

/// <summary>Registers the built-in trace formats, the trace readers and the synthetic generator.</summary>
public sealed class WorkloadsModule : IPluginModule
{
    public void Register(IPluginRegistry registry)
    {
        foreach (var format in TraceFormats.BuiltIn) registry.AddTraceFormat(format);

        registry.AddWorkload<TraceWorkload, TraceOptions>(
            "trace",
            "Any registered trace format (vmlab plugins --kind trace-format), told by content or named by format; plain, .gz, .xz or .zst.",
            c =>
            {
                string path = TracePath(c, c.Options.Path, "traces/ls.lackey.gz");
                var o = c.Options;
                var catalog = Formats(c);
                string keyPath = c.KeyPath + ":options";
                if (!string.IsNullOrEmpty(o.Format) && !o.Format.Equals("auto", StringComparison.OrdinalIgnoreCase) && catalog.Find(o.Format) is null)
                    throw new VmLabInputException(keyPath + ":format",
                        $"unknown trace format '{o.Format}'; formats: {string.Join(", ", catalog.Formats.Select(f => f.Name))} (or auto: told by content)");
                var readerOptions = new TraceReaderOptions { Path = path, Pid = o.Pid, AccessSize = o.AccessSize };
                return new TraceWorkload(() =>
                {
                    var trace = TraceInput.Open(path, keyPath + ":path", catalog, o.Format, readerOptions);
                    TraceWorkload.Range(trace.Reader, o.Start, o.Limit);
                    return trace;
                }, TraceDecoding.For(o.DecodeThreads, c.Services));
            });
        registry.AddWorkload<LackeyWorkload, LackeyOptions>(
            "lackey",
            "Valgrind Lackey memory trace (plain, .gz, .xz, .zst): I fetch, L load, S store, M load+store.",
            c => new LackeyWorkload(c.Options, TracePath(c, c.Options.Path, "traces/ls.lackey.gz"), c.KeyPath + ":options",
                c.Options.Maps.Length == 0 ? null : c.ResolvePath(c.Options.Maps), Formats(c).Formats, WorkloadFor(c),
                TraceDecoding.For(c.Options.DecodeThreads, c.Services)));
        registry.AddWorkload<TraceWorkload, ChampSimOptions>(
            "champsim",
            "ChampSim binary trace (input_instr 64 B or cloudsuite_instr 96 B; .xz, .gz): ip fetch, source loads, destination stores.",
            c =>
            {
                string path = TracePath(c, c.Options.Path, "traces/app.champsim.xz");
                var o = c.Options;
                var expected = o.Layout == ChampSimLayout.Standard ? TraceFormats.ChampSim : TraceFormats.Cloudsuite;
                var formats = Formats(c).Formats;
                var workloadFor = WorkloadFor(c);
                return new TraceWorkload(() => TraceWorkload.Range(
                    new ChampSimReader(TraceInput.OpenExpecting(path, c.KeyPath + ":options:path", expected, formats, workloadFor), path, o.Layout, o.Pid, o.UseAsid, o.Fetches, o.AccessSize),
                    o.Start, o.Limit), TraceDecoding.For(o.DecodeThreads, c.Services));
            });
        registry.AddWorkload<TraceWorkload, DinOptions>(
            "din",
            "Dinero IV din (label address) or xdin (type address size) text trace.",
            c =>
            {
                string path = TracePath(c, c.Options.Path, "traces/app.din");
                var o = c.Options;
                var formats = Formats(c).Formats;
                var workloadFor = WorkloadFor(c);
                return new TraceWorkload(() => TraceWorkload.Range(
                    new DinReader(TraceInput.OpenExpecting(path, c.KeyPath + ":options:path", TraceFormats.Din, formats, workloadFor), path, o.Pid, o.AccessSize),
                    o.Start, o.Limit), TraceDecoding.For(o.DecodeThreads, c.Services));
            });
        registry.AddWorkload<TraceWorkload, VmtOptions>(
            "vmt",
            "VmLab's native binary trace (.vmt): delta-encoded records with kind, size, pid and mode, in indexed blocks.",
            c =>
            {
                string path = TracePath(c, c.Options.Path, "traces/ls.vmt");
                var o = c.Options;
                var formats = Formats(c).Formats;
                var workloadFor = WorkloadFor(c);
                return new TraceWorkload(() => TraceWorkload.Range(
                    new VmtReader(TraceInput.OpenExpecting(path, c.KeyPath + ":options:path", TraceFormats.Vmt, formats, workloadFor), path, o.PidOffset),
                    o.Start, o.Limit), TraceDecoding.For(o.DecodeThreads, c.Services))
                {
                    // Decoding a plain .vmt costs what unpacking a sweep's recording of it does (docs/sweeps.md).
                    StreamsAsFastAsReplay = TraceFile.IsUncompressedRegularFile(path),
                };
            });
        registry.AddWorkload<SyntheticWorkload, SyntheticOptions>(
            "synthetic",
            "Seeded generator: sequential, stride, uniform, zipf, hot-cold, pointer-chase; phases; multi-process mixes by a scheduler quantum.",
            c => SyntheticWorkload.Create(c.Options, c.Seed));
    }

    /// <summary>The host's trace formats (every registered one); the built-in ones when run without a host.</summary>
    private static ITraceFormatCatalog Formats(ComponentContext c) =>
        c.Services?.GetService(typeof(ITraceFormatCatalog)) as ITraceFormatCatalog ?? new TraceFormatCatalog(TraceFormats.BuiltIn);

    /// <summary>The workload named like a format, if one is registered (lackey, din, vmt, champsim); else the generic trace workload.</summary>
    private static Func<string, string?> WorkloadFor(ComponentContext c)
    {
        var plugins = c.Services?.GetService(typeof(IPluginDirectory)) as IPluginDirectory;
        return format => plugins?.Find(ExtensionPoints.Workload, format) is not null ? format
            : format == "cloudsuite" && plugins?.Find(ExtensionPoints.Workload, "champsim") is not null ? "champsim"
            : null;
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
}
