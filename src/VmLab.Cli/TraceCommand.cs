using System.CommandLine;
using VmLab.Traces;
using System.Diagnostics;
using System.Globalization;
using VmLab.Abstractions;
using VmLab.Abstractions.Plugins;
using VmLab.Abstractions.Traces;
using VmLab.Host.Config;
using VmLab.Host.Plugins;


namespace VmLab.Cli;

/// <summary>
/// <c>vmlab trace record|convert|info</c>: recording under valgrind lackey into <c>.vmt</c>, converting between formats,
/// and describing a trace. The decoding and statistics are the workloads library's; this class renders them.
/// </summary>
public sealed class TraceCommand(TextWriter stdout, TextWriter stderr)
{
    private ITraceFormatCatalog? _formats;
    public const string Usage = """
        usage:
          vmlab trace record [--out <file.vmt>] [--skip N] [--limit N] [--valgrind <path>] [--tool vmlab|lackey] -- <command> [args...]
          vmlab trace convert <in> <out> [--from FORMAT] [--to FORMAT]
          vmlab trace info <file> [--from FORMAT] [--page-size BYTES]

        formats: every registered trace format (vmlab plugins --kind trace-format): built in lackey, champsim,
        cloudsuite, din, vmt (read) and vmt, lackey, din (write); plugins in VMLAB_PLUGIN_PATH add more.
        The input format is told by content; the output format by the name (.vmt, .lackey, .din, then .gz or .zst).
        A pipe (FIFO, process substitution) works as input for formats that stream.
        """;

    private const int BatchSize = 8192;

    /// <summary><c>vmlab trace</c> and its three subcommands; <c>vmlab trace</c> alone prints <see cref="Usage"/> and exits 2.</summary>
    public Command Definition()
    {
        var from = () => Opt.Value("--from", "FORMAT", "the input's format when it cannot be told from the content");
        var trace = new Command("trace", "Record, convert and describe memory-access traces.\n" + Usage[(Usage.IndexOf("formats:", StringComparison.Ordinal))..]);
        trace.Arguments.Add(new Argument<string[]>("subcommand") { Arity = ArgumentArity.ZeroOrMore, Hidden = true });
        trace.Action = new CommandAction(result =>
        {
            var a = new Arguments(result);
            if (a.Positionals.Count == 0)
            {
                stdout.WriteLine(Usage);
                return VmLabCommand.ExitBadInput;
            }
            throw new UsageException($"unknown trace command '{a.Positionals[0]}'; {Suggest.Hint(a.Positionals[0], ["record", "convert", "info"])}");
        });
        var record = Opt.Command("record", "Run a command under valgrind --tool=lackey and record its memory accesses, e.g. vmlab trace record --out ls.vmt -- /bin/ls -l",
            Opt.Positional("command", "the command to record and its arguments, after --", ArgumentArity.OneOrMore),
            [
                Opt.Value("--out", "file.vmt", "the trace to write (default: <command name>.vmt); the format is told by the name"),
                Opt.Value("--skip", "N", "records of the command's log to pass over before the trace starts (default 0)"),
                Opt.Value("--limit", "N", "records to keep after the skip; the command is stopped once they are written (default: all)"),
                Opt.Value("--valgrind", "path", "the valgrind to run (default: valgrind on PATH)"),
                Opt.Value("--tool", "vmlab|lackey", "the valgrind tool: vmlab (Lackey's records, buffered; built with gcc on first use) or lackey (stock); default vmlab, else lackey with a note"),
            ], Record);
        var convert = Opt.Command("convert", "Convert a trace from one format to another.",
            Opt.Positional("input", "the trace to read (a file or a pipe; its format is told by its content)"),
            [from(), Opt.Value("--to", "FORMAT", "the output's format (default: told by the output's name)")], Convert);
        convert.Arguments.Add(Opt.Positional("output", "the trace to write (.vmt, .lackey, .din, then optionally .gz or .zst)"));
        var info = Opt.Command("info", "Describe a trace: records, accesses by kind, footprint, processes, page reuse distances.",
            Opt.Positional("file", "the trace to describe"),
            [from(), Opt.Value("--page-size", "BYTES", "the page size for footprint and reuse (default: the trace's, else 4096)")], Info);
        trace.Subcommands.Add(record);
        trace.Subcommands.Add(convert);
        trace.Subcommands.Add(info);
        return trace;
    }

    /// <summary>The registered trace formats (built-in plugins and VMLAB_PLUGIN_PATH), loaded once; load problems are warnings.</summary>
    private ITraceFormatCatalog Formats
    {
        get
        {
            if (_formats is null)
            {
                var catalog = PluginCatalog.CreateDefault();
                foreach (var e in catalog.Errors) stderr.WriteLine($"warning: {e.Folder}: {e.Message}");
                _formats = catalog.TraceFormats;
            }
            return _formats;
        }
    }

    private string FormatNames => string.Join(", ", Formats.Formats.Select(f => f.Name));

    private ITraceFormat ParseFormat(string name, string option) =>
        Formats.Find(name) ?? throw new UsageException($"unknown format '{name}' for {option}; {Suggest.Hint(name, Formats.Formats.Select(f => f.Name).ToList())}");

    private ITraceFormat Writable(ITraceFormat format, string output)
    {
        if (format.CanWrite) return format;
        throw new UsageException($"cannot write {output}: VmLab reads {format.Name} traces but does not write them; write one of " +
                                 string.Join(", ", Formats.Formats.Where(f => f.CanWrite).Select(f => f.Name)));
    }

    private static string ExistingInput(string path)
    {
        if (!File.Exists(path)) throw new VmLabInputException(path, "trace file not found");
        return Path.GetFullPath(path);
    }

    private int Convert(Arguments a)
    {
        if (a.Positionals.Count != 2)
            throw new UsageException("trace convert takes an input and an output file, e.g. vmlab trace convert ls.lackey.gz ls.vmt");
        string input = ExistingInput(a.Positionals[0]);
        string output = a.Positionals[1];
        if (a.Value("--from") is { } f) ParseFormat(f, "--from");
        var to = Writable(a.Value("--to") is { } t ? ParseFormat(t, "--to")
            : Formats.FromFileName(output) ?? throw new UsageException(
                $"cannot tell the output format from the name '{output}'; end it in an extension of a writable format " +
                $"({string.Join(", ", Formats.Formats.Where(x => x.CanWrite).SelectMany(x => x.Extensions))}; then optionally .gz or .zst), or give --to"), output);
        if (Path.GetFullPath(output) == input) throw new UsageException("the output would overwrite the input; choose another output file");

        long records = 0, accesses = 0;
        string fromName = "";
        long bytes = WriteAtomically(output, stream =>
        {
            var trace = TraceInput.Open(input, a.Positionals[0], Formats, a.Value("--from"), new TraceReaderOptions { Path = input });
            using var reader = trace.Reader;
            fromName = trace.Format!.Name;
            using var writer = to.CreateWriter(stream, new TraceWriterOptions { Path = output, PageSize = reader.PageSize ?? 4096 });
            var batch = new MemoryAccess[Math.Max(BatchSize, reader.MaxAccessesPerRecord)];
            int n;
            while ((n = reader.Read(batch)) > 0) writer.Write(batch.AsSpan(0, n));
            writer.Finish();
            records = reader.Records;
            accesses = reader.Accesses;
        });
        stdout.WriteLine($"{a.Positionals[0]} ({fromName}) -> {output} ({to.Name}): " +
                         $"{records.ToString("N0", CultureInfo.InvariantCulture)} records, {accesses.ToString("N0", CultureInfo.InvariantCulture)} accesses, " +
                         $"{bytes.ToString("N0", CultureInfo.InvariantCulture)} bytes");
        return VmLabCommand.ExitOk;
    }

    /// <summary>Writes a trace through a temporary file beside <paramref name="output"/> and a rename; on any error nothing is left behind.</summary>
    private static long WriteAtomically(string output, Action<Stream> write, bool compress = true)
    {
        string full = Path.GetFullPath(output);
        string? dir = Path.GetDirectoryName(full);
        if (dir is not null && !Directory.Exists(dir))
            throw new UsageException($"cannot write {output}: directory {dir} does not exist");
        string temp = full + ".tmp-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
        try
        {
            using (var stream = compress ? TraceFile.Create(temp, output, TraceFile.CompressionOfName(output)) : File.Create(temp))
                write(stream);
            File.Move(temp, full, overwrite: true);
            return new FileInfo(full).Length;
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }

    private int Info(Arguments a)
    {
        if (a.Positionals.Count != 1) throw new UsageException("trace info takes one trace file, e.g. vmlab trace info configs/traces/ls.lackey.gz");
        string input = ExistingInput(a.Positionals[0]);
        if (a.Value("--from") is { } f) ParseFormat(f, "--from");
        int? pageSizeOption = null;
        if (a.Value("--page-size") is { } ps)
        {
            if (!int.TryParse(ps, NumberStyles.None, CultureInfo.InvariantCulture, out int p) || p < 512 || (p & (p - 1)) != 0)
                throw new UsageException($"--page-size {ps}: expected a power of two of at least 512, e.g. 4096");
            pageSizeOption = p;
        }
        var trace = TraceInput.Open(input, a.Positionals[0], Formats, a.Value("--from"), new TraceReaderOptions { Path = input });
        using var reader = trace.Reader;
        var stats = new TraceStatistics(pageSizeOption ?? reader.PageSize ?? 4096);
        var batch = new MemoryAccess[Math.Max(BatchSize, reader.MaxAccessesPerRecord)];
        int n;
        while ((n = reader.Read(batch)) > 0) stats.Add(batch.AsSpan(0, n));
        Render(a.Positionals[0], trace.Format!, reader, stats);
        return VmLabCommand.ExitOk;
    }

    private void Render(string name, ITraceFormat format, ITraceReader reader, TraceStatistics s)
    {
        static string N(long v) => v.ToString("N0", CultureInfo.InvariantCulture);
        string Pct(long v, long total) => total == 0 ? "" : $" ({(100.0 * v / total).ToString("0.0", CultureInfo.InvariantCulture)}%)";

        stdout.WriteLine($"{name}: {format.Name} trace");
        stdout.WriteLine($"  records            {N(reader.Records),15}");
        stdout.WriteLine($"  accesses           {N(s.Accesses),15}");
        stdout.WriteLine($"    read             {N(s.Reads),15}{Pct(s.Reads, s.Accesses)}");
        stdout.WriteLine($"    write            {N(s.Writes),15}{Pct(s.Writes, s.Accesses)}");
        stdout.WriteLine($"    fetch            {N(s.Fetches),15}{Pct(s.Fetches, s.Accesses)}");
        if (s.KernelAccesses > 0) stdout.WriteLine($"    kernel mode      {N(s.KernelAccesses),15}{Pct(s.KernelAccesses, s.Accesses)}");
        foreach (var (label, value) in reader.Details) stdout.WriteLine($"  {label,-18} {N(value),15}");
        stdout.WriteLine($"  page touches       {N(s.PageTouches),15}");
        stdout.WriteLine($"  footprint          {N(s.FootprintPages),15} pages of {s.PageSize} bytes ({N(s.FootprintPages * s.PageSize / 1024)} KiB)");
        var pids = s.AccessesByPid.OrderBy(p => p.Key).ToList();
        stdout.WriteLine($"  processes          {pids.Count,15}");
        if (pids.Count > 1)
            foreach (var (pid, count) in pids.Take(16))
                stdout.WriteLine($"    pid {pid,-12} {N(count),15}{Pct(count, s.Accesses)}");

        stdout.WriteLine();
        stdout.WriteLine("  page reuse distance (distinct other pages touched since the page's last touch)");
        var h = s.ReuseHistogram;
        int lastBucket = 1;
        for (int i = 1; i < h.Length; i++) if (h[i] > 0) lastBucket = i;
        long max = h.Max();
        const int width = 40;
        for (int i = 0; i <= lastBucket; i++)
        {
            string label = i switch
            {
                0 => "first touch",
                1 => "0",
                2 => "1",
                _ => $"{1L << (i - 2)}-{(1L << (i - 1)) - 1}",
            };
            int bar = max == 0 ? 0 : (int)Math.Round((double)h[i] * width / max);
            if (bar == 0 && h[i] > 0) bar = 1;
            stdout.WriteLine($"  {label,15} | {new string('#', bar).PadRight(width)} {N(h[i]),12}{Pct(h[i], s.PageTouches)}");
        }
    }

    private int Record(Arguments a)
    {
        if (a.AfterDoubleDash is not { Count: > 0 })
            throw new UsageException("trace record needs the command after '--', e.g. vmlab trace record --out ls.vmt -- /bin/ls -l");
        if (a.Positionals.Count > 0) throw new UsageException($"unexpected argument '{a.Positionals[0]}' before '--'");
        long skip = a.Value("--skip") is { } sk ? Count("--skip", sk, minimum: 0) : 0;
        long? limit = a.Value("--limit") is { } li ? Count("--limit", li, minimum: 1) : null;
        var command = a.AfterDoubleDash.ToArray();
        string output = a.Value("--out") ?? Path.GetFileName(command[0]) + ".vmt";
        var outFormat = Writable(Formats.FromFileName(output) ?? Formats.Find("vmt") ?? throw new UsageException("no vmt trace format is registered"), output);
        var lackey = Formats.Find("lackey") ?? throw new UsageException("trace record reads valgrind's Lackey output, but no lackey trace format is registered");
        string? toolChoice = a.Value("--tool");
        if (toolChoice is not (null or ValgrindTool.Name or "lackey"))
            throw new UsageException($"--tool expects {ValgrindTool.Name} or lackey, got '{toolChoice}'");
        string valgrind = FindValgrind(a.Value("--valgrind"));
        string mapsOutput = output + ".maps";

        ValgrindTool? tool = null;
        if (toolChoice != "lackey")
        {
            tool = ValgrindTool.Prepare(valgrind, ValgrindTool.DefaultCacheRoot(), out string why);
            if (tool is null && toolChoice == ValgrindTool.Name)
                throw new VmLabInputException("--tool", $"the {ValgrindTool.Name} valgrind tool cannot be used: {why}; give --tool lackey for stock Lackey");
            if (tool is null) stderr.WriteLine($"note: using stock Lackey (slower): the {ValgrindTool.Name} valgrind tool cannot be used: {why}");
        }

        using var log = new ValgrindLog();
        var start = new ProcessStartInfo(valgrind) { UseShellExecute = false };
        if (tool is not null) start.Environment["VALGRIND_LIB"] = tool.LibDirectory;
        // --trace-mem=yes, --basic-counts=no: every access, and not Lackey's instruction and branch counters, which only
        // feed its closing summary (the vmlab tool accepts both and does just that);
        // --vgdb=no: no polling for a debugger, and no vgdb shared-memory mapping in the traced address space.
        foreach (var arg in (string[])[$"--tool={(tool is null ? "lackey" : ValgrindTool.Name)}", "--trace-mem=yes", "--basic-counts=no", "--vgdb=no", $"--log-file={log.FifoPath}"])
            start.ArgumentList.Add(arg);
        foreach (var arg in command) start.ArgumentList.Add(arg);

        var progress = Terminal.IsInteractive(stderr)
            ? new RecordProgress(stderr, Path.GetFileName(command[0]), TimeSpan.FromMilliseconds(250), TimeProvider.System)
            : null;
        Recording result = default;
        long bytes;
        log.BeginOpen();
        try
        {
            bytes = WriteAtomically(output, stream =>
            {
                using var process = Process.Start(start) ?? throw new VmLabInputException(valgrind, "could not start valgrind");
                try
                {
                    result = Capture(process, log, valgrind, command, lackey, outFormat, stream, output, skip, limit, progress);
                }
                catch
                {
                    if (!process.HasExited) process.Kill(entireProcessTree: true);
                    throw;
                }
            });
        }
        finally
        {
            progress?.Clear();
        }
        string mapsNote = "";
        if (result.Maps is { } maps)
        {
            WriteAtomically(mapsOutput, s => s.Write(maps), compress: false);
            int lines = maps.AsSpan().Count((byte)'\n');
            mapsNote = $"; maps -> {mapsOutput} ({lines} mappings, {(result.StoppedAfterWindow ? "at the end of the window" : "the last snapshot before the command ended")})";
        }
        else
        {
            stderr.WriteLine($"warning: no /proc/PID/maps was captured (valgrind's log did not start with its ==PID== line, or the process ended before a snapshot); {mapsOutput} is not written");
        }
        static string N(long v) => v.ToString("N0", CultureInfo.InvariantCulture);
        string window = skip == 0 && limit is null ? ""
            : result.Records == 0 ? $" (the window is empty: the log has {N(result.LogRecords)} records)"
            : $" (records {N(skip + 1)}-{N(skip + result.Records)} of the log{(result.StoppedAfterWindow ? "; the command was stopped after them" : $", which has {N(result.LogRecords)}")})";
        stdout.WriteLine($"recorded '{string.Join(' ', command)}' -> {output} ({outFormat.Name}): " +
                         $"{N(result.Records)} records, {N(result.Accesses)} accesses, {N(bytes)} bytes{window}{mapsNote}");
        if (result.LogRecords < skip)
            stderr.WriteLine($"warning: the command's log has only {N(result.LogRecords)} records, fewer than --skip {N(skip)}: the trace is empty");
        if (!result.StoppedAfterWindow && result.ExitCode != 0)
        {
            stderr.WriteLine($"error: the command exited with code {result.ExitCode} (the trace of what it did is written)");
            return VmLabCommand.ExitFailed;
        }
        return VmLabCommand.ExitOk;
    }

    /// <summary>A count of records for --skip or --limit: digits only, at least <paramref name="minimum"/>.</summary>
    private static long Count(string option, string text, long minimum) =>
        long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long n) && n >= minimum
            ? n
            : throw new UsageException($"{option} expects a whole number of records >= {minimum} (digits only, e.g. {option} 1000000), got '{text}'");

    /// <summary>What a recording kept: records and accesses of the window, records read from the log, the command's exit code, the maps.</summary>
    private readonly record struct Recording(int ExitCode, long Records, long Accesses, long LogRecords, bool StoppedAfterWindow, byte[]? Maps);

    private static readonly TimeSpan OpenGrace = TimeSpan.FromSeconds(5);

    /// <summary>How often the traced process's <c>/proc/PID/maps</c> is read while it runs; the last snapshot is kept.</summary>
    private static readonly TimeSpan MapsInterval = TimeSpan.FromMilliseconds(100);

    private static Recording Capture(Process process, ValgrindLog log, string valgrind, string[] command, ITraceFormat lackey,
        ITraceFormat outFormat, Stream stream, string output, long skip, long? limit, RecordProgress? progress)
    {
        // valgrind opens its log at start-up; it (or a stand-in) may also hand the log to a child and exit at once,
        // so an exit only means failure when nothing opened the pipe within the grace time.
        var pipe = log.WaitForWriter(process, OpenGrace);
        if (pipe is null)
        {
            process.WaitForExit();
            throw new VmLabInputException(valgrind, $"valgrind exited with code {process.ExitCode} before sending its log; check the command ('{string.Join(' ', command)}')");
        }
        using var input = new LogStream(pipe, MapsInterval, TimeProvider.System);
        using var reader = lackey.OpenReader(input, new TraceReaderOptions { Path = $"valgrind log of '{command[0]}'" });
        var counted = new CountingStream(stream);
        using var writer = outFormat.CreateWriter(counted, new TraceWriterOptions { Path = output });
        var batch = new MemoryAccess[Math.Max(BatchSize, reader.MaxAccessesPerRecord)];
        int n;
        if (skip > 0)
        {
            reader.RecordLimit = skip;
            while ((n = reader.Read(batch)) > 0) progress?.Report(reader.Records, skip, 0);
        }
        long skipped = reader.Records;
        reader.RecordLimit = limit is { } l ? skipped + l : long.MaxValue;
        long accesses = 0;
        while ((n = reader.Read(batch)) > 0)
        {
            writer.Write(batch.AsSpan(0, n));
            accesses += n;
            progress?.Report(reader.Records, skip, counted.BytesWritten);
        }
        // A full window: the maps now are the address space at its last access, and the rest of the run is not needed.
        // Otherwise this last read usually comes too late (the process has exited) and the periodic snapshot stays.
        input.Snapshot();
        bool stopped = false;
        if (limit is { } full && reader.Records - skipped >= full && !process.HasExited)
        {
            try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { } // it may have exited meanwhile
            stopped = true;
        }
        writer.Finish();
        process.WaitForExit();
        return new Recording(process.ExitCode, reader.Records - skipped, accesses, reader.Records, stopped, input.Maps);
    }

    private static string FindValgrind(string? given)
    {
        if (given is not null)
        {
            if (File.Exists(given)) return Path.GetFullPath(given);
            throw new VmLabInputException("--valgrind", $"{given} not found; install valgrind (e.g. apt-get install valgrind) or give its path");
        }
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(dir, "valgrind");
            if (File.Exists(candidate)) return candidate;
        }
        throw new VmLabInputException("valgrind", "valgrind is not installed or not on PATH; trace record runs the command under valgrind --tool=lackey. Install it (e.g. apt-get install valgrind) or give --valgrind <path>");
    }
}
