namespace VmLab.Core.Kernel;

/// <summary>What an open file descriptor refers to.</summary>
public enum FileKind { Zero, Null, File, PipeRead, PipeWrite }

/// <summary>
/// A pipe as fs/pipe.c keeps it: a ring of 16 buffers (PIPE_DEF_BUFFERS) of one page each, 64 KiB in all. A write
/// whose length is not a whole number of pages first merges its tail-sized head into the last buffer when it fits
/// there; the rest goes into new buffers a page at a time.
/// </summary>
public sealed class PipeBuffer
{
    public const int PageSize = 4096;
    /// <summary>PIPE_DEF_BUFFERS.</summary>
    public const int MaxBuffers = 16;
    public const int Capacity = MaxBuffers * PageSize;

    private readonly LinkedList<Slot> _slots = new();

    /// <summary>Open file descriptions of the read end (pipe->readers): at 0 a write is -EPIPE and SIGPIPE.</summary>
    public int Readers { get; internal set; } = 1;

    /// <summary>Open file descriptions of the write end (pipe->writers).</summary>
    public int Writers { get; internal set; } = 1;

    /// <summary>The bytes queued, oldest first.</summary>
    public int Count { get; private set; }

    /// <summary>Every buffer is in use (pipe_full): a write that needs a new one would block.</summary>
    public bool Full => _slots.Count >= MaxBuffers;

    /// <summary>The pipe holds no buffer (pipe_empty).</summary>
    public bool Empty => _slots.Count == 0;

    /// <summary>The last buffer can take <paramref name="chars"/> more bytes after its data (PIPE_BUF_FLAG_CAN_MERGE).</summary>
    public bool CanMerge(int chars) => _slots.Last is { } last && last.Value.Offset + last.Value.Length + chars <= PageSize;

    /// <summary>Appends bytes to the last buffer (a merge <see cref="CanMerge"/> allowed).</summary>
    public void Merge(ReadOnlySpan<byte> bytes)
    {
        var last = _slots.Last!.Value;
        bytes.CopyTo(last.Page.AsSpan(last.Offset + last.Length));
        last.Length += bytes.Length;
        Count += bytes.Length;
    }

    /// <summary>Queues a new buffer holding <paramref name="bytes"/> (at most a page).</summary>
    public void Push(ReadOnlySpan<byte> bytes)
    {
        var slot = new Slot();
        bytes.CopyTo(slot.Page);
        slot.Length = bytes.Length;
        _slots.AddLast(slot);
        Count += bytes.Length;
    }

    /// <summary>The unread bytes of the oldest buffer.</summary>
    public ReadOnlySpan<byte> Oldest => _slots.First is { } first ? first.Value.Page.AsSpan(first.Value.Offset, first.Value.Length) : [];

    /// <summary>Consumes <paramref name="n"/> bytes of the oldest buffer, releasing it once empty.</summary>
    public void Consume(int n)
    {
        var first = _slots.First!.Value;
        first.Offset += n;
        first.Length -= n;
        Count -= n;
        if (first.Length == 0) _slots.RemoveFirst();
    }

    private sealed class Slot
    {
        public byte[] Page { get; } = new byte[PageSize];
        public int Offset { get; set; }
        public int Length { get; set; }
    }
}

/// <summary>
/// An open file description (<c>struct file</c>): what it reads from or writes to, its offset, and the descriptors that
/// refer to it (fork shares it). The last close releases it: a pipe end is then gone.
/// </summary>
public sealed class OpenFile(FileKind kind, SimFile? file = null, PipeBuffer? pipe = null)
{
    public FileKind Kind { get; } = kind;
    public SimFile? File { get; } = file;
    public PipeBuffer? Pipe { get; } = pipe;
    public ulong Offset { get; set; }

    /// <summary>
    /// The readahead state's <c>prev_pos</c> (<c>file_ra_state</c>): one past the last byte the previous read(2) or
    /// pread(2) through this description returned; <see cref="ulong.MaxValue"/> (Linux's -1) before the first.
    /// </summary>
    public ulong ReadAheadPrevPos { get; internal set; } = ulong.MaxValue;

    /// <summary>Descriptors referring to this description (f_count).</summary>
    public int References { get; internal set; } = 1;

    /// <summary>One descriptor closed; at the last, a pipe end is released (pipe_release).</summary>
    internal void Release()
    {
        if (--References > 0 || Pipe is null) return;
        if (Kind == FileKind.PipeRead) Pipe.Readers--;
        else Pipe.Writers--;
    }
}
