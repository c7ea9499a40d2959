namespace VmLab.Core.Kernel;

/// <summary>What an open file descriptor refers to.</summary>
public enum FileKind { Zero, Null, File, PipeRead, PipeWrite }

/// <summary>A pipe's buffer (64 KiB, like Linux's default).</summary>
public sealed class PipeBuffer
{
    public const int Capacity = 64 * 1024;
    public Queue<byte> Bytes { get; } = new();
}

/// <summary>An open file description: what it reads from or writes to, and its offset.</summary>
public sealed class OpenFile(FileKind kind, SimFile? file = null, PipeBuffer? pipe = null)
{
    public FileKind Kind { get; } = kind;
    public SimFile? File { get; } = file;
    public PipeBuffer? Pipe { get; } = pipe;
    public ulong Offset { get; set; }
}
