using System.Text.Json;
using VmLab.Abstractions;
using VmLab.Core;
using VmLab.Core.Events;
using VmLab.Host.Results;

namespace VmLab.Host.Events;

/// <summary>The file format of <c>--events</c>.</summary>
public enum EventFormat
{
    /// <summary>One JSON object per line (docs/events.md).</summary>
    Jsonl,
    /// <summary>The Chrome / Perfetto trace-event format: a track per CPU within each process, faults as slices.</summary>
    Chrome,
}

/// <summary>What <c>--attribute</c> counts misses, walks and faults by.</summary>
public enum AttributionMode
{
    None,
    /// <summary>The VMA the address falls in (as it was at the time).</summary>
    Vma,
    /// <summary>The 2 MiB-aligned region of the address.</summary>
    Region,
    /// <summary>The instruction fetched last before the access (traces that record fetches: Lackey, ChampSim).</summary>
    Ip,
}

/// <summary>
/// What a run records of its events: a file (<see cref="Path"/> in <see cref="Format"/>), a narration
/// (<see cref="Explain"/>), an attribution table, each over the events <see cref="Filter"/> keeps.
/// </summary>
public sealed record EventOptions
{
    public string? Path { get; init; }
    public EventFormat Format { get; init; } = EventFormat.Jsonl;
    /// <summary>Where the narrated lines go (one per event), or null for none.</summary>
    public TextWriter? Explain { get; init; }
    public EventFilter Filter { get; init; } = new();
    public AttributionMode Attribute { get; init; }
    /// <summary>Rows of the attribution table.</summary>
    public int Top { get; init; } = 10;

    public bool Any => Path is not null || Explain is not null || Attribute != AttributionMode.None;
}

/// <summary>One row of the attribution table.</summary>
public sealed record AttributionRow(string Key, long Misses, long Walks, long Faults);

/// <summary>What a run's event recording produced: counts, where the file went, the attribution table.</summary>
public sealed record EventSummary(long Recorded, long Written, long LeftOut, string? Path, AttributionMode Attribute, IReadOnlyList<AttributionRow> Top, long Keys)
{
    /// <summary>The sentence the CLI prints: how many events were kept and how many left out.</summary>
    public string Describe() =>
        $"events: {Written:N0} of {Recorded:N0} recorded" + (LeftOut > 0 ? $", {LeftOut:N0} left out by the filters" : "") +
        (Path is null ? "" : $"; written to {Path}");
}

/// <summary>
/// Turns a machine's event stream on for one run and sends what it records to the outputs <see cref="EventOptions"/>
/// asks for. Files are built beside their target and put in place only by <see cref="Finish"/>, so a failed run or a
/// bad path leaves what was there.
/// </summary>
public sealed class EventRecording : IEventSink, IDisposable
{
    private readonly EventOptions _options;
    private readonly Machine _machine;
    private readonly EventStream _stream;
    private readonly string? _temp;
    private readonly FileStream? _file;
    private readonly Utf8JsonWriter? _json;
    private readonly ChromeTrace? _chrome;
    private readonly Dictionary<string, (long Misses, long Walks, long Faults)> _attribution = new(StringComparer.Ordinal);
    private bool _finished;

    public EventRecording(Machine machine, EventOptions options)
    {
        _options = options;
        _machine = machine;
        if (options.Path is { } path)
        {
            OutputTarget.Check(path);
            _temp = OutputTarget.TempFor(path);
            _file = new FileStream(_temp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16);
            _json = new Utf8JsonWriter(_file, new JsonWriterOptions { SkipValidation = options.Format == EventFormat.Jsonl });
            if (options.Format == EventFormat.Chrome) _chrome = new ChromeTrace(_json, machine);
        }
        _stream = machine.RecordEvents(this, options.Filter, seeEveryAccess: options.Attribute == AttributionMode.Ip);
    }

    /// <summary>Checks an events path before a run starts: exit 2 naming it when it cannot be written.</summary>
    public static void Check(EventOptions options)
    {
        if (options.Path is { } path) OutputTarget.Check(path);
    }

    public void Write(MachineEvent e)
    {
        if (_json is not null)
        {
            if (_chrome is not null) _chrome.Write(e);
            else
            {
                EventJson.Write(_json, e);
                _json.Flush();
                _file!.WriteByte((byte)'\n');
                _json.Reset();
            }
        }
        if (_options.Explain is { } explain) explain.WriteLine(EventNarrator.Narrate(e));
        if (_options.Attribute != AttributionMode.None) Attribute(e);
    }

    private void Attribute(MachineEvent e)
    {
        bool walk = e.Kind == EventKinds.Walk;
        bool fault = e.Kind == EventKinds.FaultEnd;
        if (!walk && !fault) return;
        string? key = _options.Attribute switch
        {
            AttributionMode.Region => $"0x{e.Address & ~((1UL << 21) - 1):x}",
            AttributionMode.Ip => e.Ip == 0 ? "(no fetch yet)" : $"0x{e.Ip:x}",
            _ => VmaOf(e),
        };
        if (key is null) return;
        var c = _attribution.GetValueOrDefault(key);
        // A walk follows every TLB miss; the retry after a fixed fault and the refetch of a cached entry that forbids
        // the access are walks that are not misses.
        if (walk) c = (e["cause"] as string == "miss" ? c.Misses + 1 : c.Misses, c.Walks + 1, c.Faults);
        else c = (c.Misses, c.Walks, c.Faults + 1);
        _attribution[key] = c;
    }

    private string VmaOf(MachineEvent e)
    {
        if (e.Address >= _machine.Kernel.Geometry.KernelBase) return "(kernel)";
        var vma = _machine.Kernel.FindProcess(e.Pid)?.Mm.FindVma(e.Address);
        return vma is not null && vma.Contains(e.Address) ? $"pid {e.Pid} {EventText.Vma(vma.Info)}" : $"pid {e.Pid} (no VMA)";
    }

    /// <summary>Closes the outputs and puts the file in place; the summary of what was recorded.</summary>
    public EventSummary Finish()
    {
        _finished = true;
        _chrome?.End();
        _json?.Flush();
        _file?.Dispose();
        if (_temp is not null) OutputTarget.Place(_options.Path!, _temp);
        _options.Explain?.Flush();
        var rows = _attribution
            .OrderByDescending(kv => kv.Value.Misses + kv.Value.Faults).ThenBy(kv => kv.Key, StringComparer.Ordinal)
            .Take(_options.Top)
            .Select(kv => new AttributionRow(kv.Key, kv.Value.Misses, kv.Value.Walks, kv.Value.Faults))
            .ToList();
        return new EventSummary(_stream.Recorded, _stream.Written, _stream.LeftOut, _options.Path, _options.Attribute, rows, _attribution.Count);
    }

    /// <summary>Without <see cref="Finish"/> (a failed run) the partial file is deleted and nothing is placed.</summary>
    public void Dispose()
    {
        if (_finished) return;
        _json?.Dispose();
        _file?.Dispose();
        if (_temp is not null && File.Exists(_temp)) File.Delete(_temp);
    }
}

/// <summary>How an event is written as JSON (one object; the JSONL line and the Chrome event's args share it).</summary>
public static class EventJson
{
    public static void Write(Utf8JsonWriter w, MachineEvent e)
    {
        w.WriteStartObject();
        w.WriteNumber("seq", e.Seq);
        w.WriteString("kind", e.Kind);
        w.WriteNumber("cpu", e.Cpu);
        w.WriteNumber("pid", e.Pid);
        w.WriteNumber("access", e.Access);
        if (e.Address != 0) w.WriteString("address", $"0x{e.Address:x}");
        if (e.Ip != 0) w.WriteString("ip", $"0x{e.Ip:x}");
        WriteFields(w, e);
        w.WriteEndObject();
    }

    public static void WriteFields(Utf8JsonWriter w, MachineEvent e)
    {
        foreach (var f in e.Fields)
        {
            w.WritePropertyName(f.Name);
            WriteValue(w, f.Value);
        }
    }

    private static void WriteValue(Utf8JsonWriter w, object? value)
    {
        switch (value)
        {
            case null: w.WriteNullValue(); break;
            case string s: w.WriteStringValue(s); break;
            case bool b: w.WriteBooleanValue(b); break;
            case long l: w.WriteNumberValue(l); break;
            case int i: w.WriteNumberValue(i); break;
            case string[] a:
                w.WriteStartArray();
                foreach (var s in a) w.WriteStringValue(s);
                w.WriteEndArray();
                break;
            case int[] a:
                w.WriteStartArray();
                foreach (var i in a) w.WriteNumberValue(i);
                w.WriteEndArray();
                break;
            default: w.WriteStringValue(value.ToString()); break;
        }
    }
}

/// <summary>
/// The Chrome trace-event format (the JSON object form, <c>traceEvents</c> streamed): each simulated process is a
/// Chrome process and each CPU a thread in it, so every process has a track per CPU it ran on. Time is the event
/// sequence number, in microseconds. A fault is a complete ("X") slice from its <c>fault</c> to its <c>fault-end</c>
/// event with the details as args; signals are instant ("i") events; everything else is an instant event too.
/// </summary>
internal sealed class ChromeTrace
{
    private readonly Utf8JsonWriter _w;
    private readonly HashSet<(int Pid, int Cpu)> _tracks = [];

    public ChromeTrace(Utf8JsonWriter w, Machine machine)
    {
        _w = w;
        w.WriteStartObject();
        w.WriteString("displayTimeUnit", "ns");
        w.WriteStartObject("otherData");
        w.WriteString("generator", "vmlab");
        w.WriteString("timeUnit", "one microsecond per event (ts is the event sequence number)");
        w.WriteNumber("cpus", machine.Cpus.Count);
        w.WriteEndObject();
        w.WriteStartArray("traceEvents");
    }

    public void Write(MachineEvent e)
    {
        if (e.Kind == EventKinds.Fault) return; // the slice is written whole when the fault ends
        Track(e.Pid, e.Cpu);
        _w.WriteStartObject();
        if (e.Kind == EventKinds.FaultEnd && e["begin"] is long begin)
        {
            _w.WriteString("name", $"fault {e["resolution"] ?? e["outcome"]}");
            _w.WriteString("cat", "fault");
            _w.WriteString("ph", "X");
            _w.WriteNumber("ts", begin);
            _w.WriteNumber("dur", Math.Max(1, e.Seq - begin));
        }
        else
        {
            _w.WriteString("name", e.Kind == EventKinds.Syscall ? $"{e["name"]}" : e.Kind);
            _w.WriteString("cat", e.Kind);
            _w.WriteString("ph", "i");
            _w.WriteString("s", "t");
            _w.WriteNumber("ts", e.Seq);
        }
        _w.WriteNumber("pid", e.Pid);
        _w.WriteNumber("tid", e.Cpu);
        _w.WriteStartObject("args");
        _w.WriteNumber("seq", e.Seq);
        _w.WriteNumber("access", e.Access);
        if (e.Address != 0) _w.WriteString("address", $"0x{e.Address:x}");
        EventJson.WriteFields(_w, e);
        _w.WriteEndObject();
        _w.WriteEndObject();
        if (_w.BytesPending > 1 << 16) _w.Flush();
    }

    private void Track(int pid, int cpu)
    {
        if (!_tracks.Add((pid, cpu))) return;
        if (_tracks.Count(t => t.Pid == pid) == 1) Metadata("process_name", pid, 0, pid == 0 ? "kernel / pid 0" : $"pid {pid}");
        Metadata("thread_name", pid, cpu, $"cpu {cpu}");
    }

    private void Metadata(string name, int pid, int tid, string value)
    {
        _w.WriteStartObject();
        _w.WriteString("name", name);
        _w.WriteString("ph", "M");
        _w.WriteNumber("pid", pid);
        _w.WriteNumber("tid", tid);
        _w.WriteStartObject("args");
        _w.WriteString("name", value);
        _w.WriteEndObject();
        _w.WriteEndObject();
    }

    public void End()
    {
        _w.WriteEndArray();
        _w.WriteEndObject();
    }
}
