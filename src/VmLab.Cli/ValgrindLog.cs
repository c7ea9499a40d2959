using System.Buffers.Text;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using VmLab.Abstractions.Plugins;

namespace VmLab.Cli;

/// <summary>
/// Valgrind's log, received through a named pipe (FIFO) that valgrind opens as its <c>--log-file</c>. Lackey prints each
/// trace record with one <c>write</c>; into a pipe that is one cheap copy, where the loopback socket of
/// <c>--log-socket</c> cost a trip through the TCP stack per record and woke the reader for nearly every one. The pipe
/// is made 1 MiB deep and <see cref="LogStream"/> reads it in large blocks, pausing when a read finds little, so the
/// writer fills the pipe without waking the reader on every line.
/// </summary>
internal sealed partial class ValgrindLog : IDisposable
{
    /// <summary>How deep the pipe is made (Linux's default limit for an unprivileged process is 1 MiB).</summary>
    private const int PipeBytes = 1 << 20;

    private readonly string _directory;
    private Task<FileStream>? _open;
    private bool _releasedByUs;

    public ValgrindLog()
    {
        _directory = Directory.CreateTempSubdirectory("vmlab-record-").FullName;
        FifoPath = Path.Combine(_directory, "valgrind.log");
        if (MakeFifo(FifoPath, 0x180 /* 0600 */) != 0)
            throw new VmLabInputException(FifoPath, $"cannot create the pipe for valgrind's log (errno {Marshal.GetLastPInvokeError()})");
    }

    /// <summary>The FIFO to give valgrind as <c>--log-file</c>.</summary>
    public string FifoPath { get; }

    /// <summary>Starts opening the read end; it completes when valgrind opens the pipe for writing.</summary>
    public void BeginOpen() => _open = Task.Run(() => new FileStream(FifoPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, bufferSize: 0));

    /// <summary>
    /// Waits until valgrind opens its log. When <paramref name="process"/> exits first, waits a further
    /// <paramref name="grace"/> (a child of the process may still open it) and then returns null: nothing will come.
    /// </summary>
    public FileStream? WaitForWriter(Process process, TimeSpan grace)
    {
        var open = _open ?? throw new InvalidOperationException("BeginOpen first");
        var exited = process.WaitForExitAsync();
        if (Task.WhenAny(open, exited).GetAwaiter().GetResult() != open && !open.Wait(grace))
        {
            Release();
            open.GetAwaiter().GetResult().Dispose();
            return null;
        }
        var stream = open.GetAwaiter().GetResult();
        // Deepen the pipe; a refusal (a lower pipe-max-size) leaves the default 64 KiB, which still works.
        _ = SetPipeSize(stream.SafeFileHandle, FSetPipeSize, PipeBytes);
        return stream;
    }

    /// <summary>Lets a pending open of the read end complete (it waits for a writer) by opening and closing the write end.</summary>
    private void Release()
    {
        if (_releasedByUs) return;
        _releasedByUs = true;
        using var writer = new FileStream(FifoPath, FileMode.Open, FileAccess.Write, FileShare.ReadWrite, bufferSize: 0);
    }

    public void Dispose()
    {
        if (_open is { IsCompleted: false })
        {
            Release();
            try { _open.GetAwaiter().GetResult().Dispose(); } catch (IOException) { }
        }
        try { Directory.Delete(_directory, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    private const int FSetPipeSize = 1031;

    [LibraryImport("libc", EntryPoint = "mkfifo", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int MakeFifo(string path, uint mode);

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static partial int SetPipeSize(Microsoft.Win32.SafeHandles.SafeFileHandle fd, int command, int size);
}

/// <summary>
/// The read side of valgrind's log pipe, as the Lackey reader sees it: large reads, a short pause after a read that
/// found the pipe nearly empty (so valgrind's one-line writes accumulate instead of each waking this thread), the pid
/// from valgrind's first log line, and snapshots of that process's <c>/proc/PID/maps</c> while it runs.
/// </summary>
internal sealed class LogStream(Stream pipe, TimeSpan snapshotInterval, TimeProvider clock) : Stream
{
    /// <summary>A read of fewer bytes than this found the pipe nearly drained: the next read waits <see cref="Pause"/> first.</summary>
    private const int SmallRead = 16 << 10;

    /// <summary>About 24 KB of Lackey output at its usual rate of 12 MB/s: far less than the pipe holds.</summary>
    private static readonly TimeSpan Pause = TimeSpan.FromMilliseconds(2);

    private bool _lastReadSmall;
    private bool _pidKnown;
    private long _lastSnapshot;
    private byte[]? _maps;

    /// <summary>The pid of the valgrind process (the traced client's process), from the <c>==PID==</c> of its first log line; 0 until seen.</summary>
    public int Pid { get; private set; }

    /// <summary>Bytes of log read.</summary>
    public long BytesRead { get; private set; }

    /// <summary>The latest non-empty <c>/proc/PID/maps</c> text, or null when none could be read.</summary>
    public byte[]? Maps => _maps;

    /// <summary>Reads <c>/proc/PID/maps</c> of the valgrind process now; keeps the previous snapshot if the process is gone.</summary>
    public void Snapshot()
    {
        _lastSnapshot = clock.GetTimestamp();
        if (Pid <= 0) return;
        try
        {
            byte[] text = File.ReadAllBytes($"/proc/{Pid.ToString(CultureInfo.InvariantCulture)}/maps");
            if (text.Length > 0) _maps = text; // an exited process (a zombie) shows an empty file
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

    public override int Read(Span<byte> buffer)
    {
        if (_lastReadSmall) Thread.Sleep(Pause);
        int n = pipe.Read(buffer);
        _lastReadSmall = n < SmallRead;
        if (n > 0)
        {
            if (!_pidKnown) FindPid(buffer[..n]);
            BytesRead += n;
            if (clock.GetElapsedTime(_lastSnapshot) >= snapshotInterval) Snapshot();
        }
        return n;
    }

    /// <summary>valgrind's log starts <c>==12345== Lackey, ...</c>; a log that does not (a stand-in) gives no pid and no maps.</summary>
    private void FindPid(ReadOnlySpan<byte> first)
    {
        _pidKnown = true;
        if (first.Length > 4 && first[0] == (byte)'=' && first[1] == (byte)'=')
        {
            var rest = first[2..];
            int end = rest.IndexOf((byte)'=');
            if (end > 0 && Utf8Parser.TryParse(rest[..end], out int pid, out int consumed) && consumed == end && pid > 0)
            {
                Pid = pid;
                Snapshot();
            }
        }
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => BytesRead; set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing) pipe.Dispose();
        base.Dispose(disposing);
    }
}

/// <summary>A write-through stream that counts the bytes the trace writer hands it (before any compression).</summary>
internal sealed class CountingStream(Stream inner) : Stream
{
    public long BytesWritten { get; private set; }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        inner.Write(buffer);
        BytesWritten += buffer.Length;
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void WriteByte(byte value)
    {
        inner.WriteByte(value);
        BytesWritten++;
    }

    public override void Flush() => inner.Flush();
    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => BytesWritten; set => throw new NotSupportedException(); }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
