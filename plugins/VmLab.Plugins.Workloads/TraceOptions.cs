using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using VmLab.Abstractions.Plugins;
using VmLab.Traces;

namespace VmLab.Plugins.Workloads;

/// <summary>Options of the <c>trace</c> workload: a trace of any registered format.</summary>
public sealed record TraceOptions
{
    [Description("Trace file (plain, .gz, .xz or .zst; compression is told by content), relative to the config file. A FIFO works for formats that stream (all text formats, ChampSim).")]
    [Required]
    [ExistingFile]
    public string Path { get; init; } = "";

    [Description("Trace format: a name from `vmlab plugins --kind trace-format`, or auto (told by content, the file name breaking ties).")]
    public string Format { get; init; } = "auto";

    [Description("Process id of the accesses for formats that carry none (added to the recorded pids of .vmt).")]
    [Range(0, 65535)]
    public int Pid { get; init; }

    [Description("Bytes per access for formats that carry no sizes (ChampSim, din).")]
    [Range(1, 4096)]
    public int AccessSize { get; init; } = 1;

    [Description("Records to skip at the start of the trace.")]
    [Range(typeof(long), "0", "9223372036854775807")]
    public long Start { get; init; }

    [Description("Stop after this many records (0 = the whole trace).")]
    [Range(typeof(long), "0", "9223372036854775807")]
    public long Limit { get; init; }

    [Description(TraceDecoding.OptionDescription)]
    [Range(0, 1)]
    public int DecodeThreads { get; init; }
}
