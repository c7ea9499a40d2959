namespace VmLab.Abstractions.Traces;

/// <summary>How sure a trace format is that a file is its own, from the file's first bytes.</summary>
public enum TraceMatch
{
    /// <summary>Not this format.</summary>
    No = 0,

    /// <summary>Could be, for want of anything better: a headerless binary format that fits any binary file.</summary>
    Fallback = 1,

    /// <summary>The first record parses as this format.</summary>
    Likely = 2,

    /// <summary>A magic number or header says so.</summary>
    Certain = 3,
}

/// <summary>
/// A trace file format, registered with <see cref="Plugins.PluginRegistryExtensions.AddTraceFormat"/> (contract 1.3).
/// The host finds a format by name (<c>--from</c>, the trace workload's <c>format</c>), by file-name ending, or by
/// asking every format to <see cref="Sniff"/> the first bytes; it undoes gzip, xz and zstd compression before a
/// format sees any byte. A registered format then works in <c>vmlab run</c> (the <c>trace</c> workload),
/// <c>vmlab trace info</c> and <c>vmlab trace convert</c>, and, when it can write, as the output of
/// <c>convert</c> and <c>record</c>.
/// </summary>
public interface ITraceFormat
{
    /// <summary>Lower-case kebab-case, unique among trace formats.</summary>
    string Name { get; }

    /// <summary>One line for <c>vmlab plugins</c>.</summary>
    string Description { get; }

    /// <summary>
    /// File-name endings that ask for this format, compression ending excluded, with their dot (<c>.lackey</c>,
    /// <c>.champsimtrace</c>); compared case-insensitively, the longest matching ending of all formats wins.
    /// </summary>
    IReadOnlyList<string> Extensions { get; }

    /// <summary>
    /// How sure the format is that a trace starting with <paramref name="head"/> is its own. <paramref name="head"/> is
    /// the first decompressed bytes (up to <see cref="TraceSniffing.HeadBytes"/>); <paramref name="complete"/> says it
    /// is the whole trace, so a last line without a newline is whole. <paramref name="fileName"/> is the file's name,
    /// for formats whose variants only the name tells apart. Must not throw.
    /// </summary>
    TraceMatch Sniff(ReadOnlySpan<byte> head, bool complete, string fileName);

    /// <summary>Opens a reader over <paramref name="input"/> (decompressed, maybe not seekable: a pipe). The reader owns the stream.</summary>
    ITraceReader OpenReader(Stream input, TraceReaderOptions options);

    /// <summary>Whether <see cref="CreateWriter"/> works.</summary>
    bool CanWrite { get; }

    /// <summary>A writer into <paramref name="output"/>; throws <see cref="Plugins.VmLabInputException"/> when the format cannot write.</summary>
    ITraceWriter CreateWriter(Stream output, TraceWriterOptions options);
}

/// <summary>What a trace reader is told besides its stream.</summary>
public sealed record TraceReaderOptions
{
    /// <summary>The trace's file name, for errors (<c>file:line</c>).</summary>
    public required string Path { get; init; }

    /// <summary>Process id of the accesses, for formats that carry none; formats that record pids add it to them (<c>.vmt</c>).</summary>
    public int Pid { get; init; }

    /// <summary>Bytes per access, for formats that carry no sizes.</summary>
    public int AccessSize { get; init; } = 1;
}

/// <summary>What a trace writer is told besides its stream.</summary>
public sealed record TraceWriterOptions
{
    /// <summary>The output's file name, for errors.</summary>
    public required string Path { get; init; }

    /// <summary>The page size of the machine the trace was recorded or read for, for formats that keep one.</summary>
    public int PageSize { get; init; } = 4096;
}

/// <summary>
/// A trace decoder: fills a caller's buffer with accesses, one call per batch, and allocates nothing per record.
/// Errors in the trace are <see cref="Plugins.VmLabInputException"/>s that say where (<c>file:line</c> or byte offset).
/// With the trace workloads' <c>decodeThreads</c> 1, <see cref="Read"/> is called on a decoder thread of its own while
/// the format's <c>OpenReader</c> and the reader's <c>Dispose</c> run on the simulating thread (never at the same time as
/// a <see cref="Read"/>): a reader must not keep per-thread state; <c>decodeThreads</c> 0 (the default) keeps every call
/// on one thread.
/// </summary>
public interface ITraceReader : IDisposable
{
    /// <summary>The most accesses one record can produce: a buffer given to <see cref="Read"/> holds at least this many.</summary>
    int MaxAccessesPerRecord { get; }

    /// <summary>Decodes records into <paramref name="destination"/> until it is full or the trace ends; the accesses written, 0 at the end.</summary>
    int Read(Span<MemoryAccess> destination);

    /// <summary>Records decoded so far (one record may give more than one access).</summary>
    long Records { get; }

    /// <summary>Accesses produced so far.</summary>
    long Accesses { get; }

    /// <summary>Stop after this many records (counted from the start of the trace).</summary>
    long RecordLimit { get; set; }

    /// <summary>Skips <paramref name="records"/> records.</summary>
    void Skip(long records);

    /// <summary>How far the reader is, 0 to 1, when it can tell; null otherwise (the host then follows the file position).</summary>
    double? Fraction => null;

    /// <summary>The page size the trace says it was recorded with, or null.</summary>
    int? PageSize => null;

    /// <summary>Format-specific facts for <c>vmlab trace info</c> (label, value), e.g. the blocks of a <c>.vmt</c>.</summary>
    IReadOnlyList<KeyValuePair<string, long>> Details => [];
}

/// <summary>A trace being written.</summary>
public interface ITraceWriter : IDisposable
{
    void Write(ReadOnlySpan<MemoryAccess> accesses);

    /// <summary>Completes the file (index, trailer, flush).</summary>
    void Finish();
}

/// <summary>
/// The registered trace formats as one set, with the host's rules for choosing among them. Available from
/// <see cref="Plugins.ComponentContext.Services"/> (contract 1.3).
/// </summary>
public interface ITraceFormatCatalog
{
    /// <summary>Every registered format, by name.</summary>
    IReadOnlyList<ITraceFormat> Formats { get; }

    /// <summary>The format named <paramref name="name"/> (case-insensitive), or null.</summary>
    ITraceFormat? Find(string name);

    /// <summary>The format whose extension ends <paramref name="fileName"/> (compression ending ignored; longest wins), or null.</summary>
    ITraceFormat? FromFileName(string fileName);

    /// <summary>
    /// The format of a trace that starts with <paramref name="head"/>: the surest <see cref="ITraceFormat.Sniff"/>
    /// answer, ties broken by the file name's extension. Throws <see cref="Plugins.VmLabInputException"/> naming
    /// <paramref name="path"/> when no format recognises it or the tie stays.
    /// </summary>
    ITraceFormat Detect(ReadOnlySpan<byte> head, bool complete, string path);

    /// <summary>The surest <see cref="ITraceFormat.Sniff"/> answer and its format, without throwing (null when every format says no).</summary>
    (ITraceFormat? Format, TraceMatch Match) Best(ReadOnlySpan<byte> head, bool complete, string path);
}

/// <summary>Constants of format sniffing.</summary>
public static class TraceSniffing
{
    /// <summary>How many decompressed bytes the host reads before choosing a format.</summary>
    public const int HeadBytes = 4096;
}
