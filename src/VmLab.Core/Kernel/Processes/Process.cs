using VmLab.Abstractions;
using VmLab.Abstractions.Faults;
using VmLab.Abstractions.Signals;

namespace VmLab.Core.Kernel;

/// <summary>A process: pid, ASID, address space, signal state and its own fault counts (as getrusage reports them).</summary>
public sealed class Process : IProcess, ISignalState
{
    private readonly SignalDisposition[] _dispositions = new SignalDisposition[65];
    private ulong _blocked;

    public Process(int pid, AddressSpace mm, int parentPid = 0)
    {
        Pid = pid;
        Mm = mm;
        ParentPid = parentPid;
    }

    public int Pid { get; }
    public int ParentPid { get; }
    public ushort Asid => Mm.Asid;
    public AddressSpace Mm { get; internal set; }
    public ulong PageTableRoot => Mm.Root;
    public int ExitCode { get; internal set; }
    /// <summary>A kernel thread: no user address space.</summary>
    public bool IsKernelThread { get; init; }
    /// <summary>Open file descriptors (shared descriptions after fork).</summary>
    public Dictionary<int, OpenFile> Files { get; } = [];
    /// <summary>The task was killed by an oops.</summary>
    public bool Oopsed { get; internal set; }
    /// <summary>The task's PKRU register (x86 protection keys): bit 2k disables access, bit 2k+1 writes, for key k.</summary>
    public uint Pkru { get; set; }
    /// <summary>True once a parent has waited for it.</summary>
    public bool Reaped { get; internal set; }
    /// <summary>Signals whose handler is running, with the blocked state each had before.</summary>
    internal Stack<(int Signo, bool WasBlocked)> HandlerFrames { get; } = new();

    public bool Alive { get; private set; } = true;
    /// <summary>The signal that terminated the process, 0 while alive or after a normal exit.</summary>
    public int TerminatingSignal { get; private set; }
    public bool CoreDumped { get; private set; }
    public SignalInfo? LastSignal { get; internal set; }

    public long MinorFaults { get; internal set; }
    public long MajorFaults { get; internal set; }
    /// <summary>Page faults taken, including those that ended in a signal.</summary>
    public long PageFaults { get; internal set; }
    public long ResidentPages { get; internal set; }

    public SignalDisposition GetDisposition(int signo) => _dispositions[signo];
    public void SetDisposition(int signo, SignalDisposition disposition) => _dispositions[signo] = disposition;
    public bool IsBlocked(int signo) => (_blocked & (1UL << signo)) != 0;

    public void SetBlocked(int signo, bool blocked)
    {
        if (blocked) _blocked |= 1UL << signo;
        else _blocked &= ~(1UL << signo);
    }

    internal void Terminate(int signal, bool core)
    {
        Alive = false;
        TerminatingSignal = signal;
        CoreDumped = core;
        CloseFiles();
    }

    internal void Exit(int code)
    {
        Alive = false;
        ExitCode = code;
        CloseFiles();
    }

    /// <summary>A task that ends closes its descriptors (exit_files).</summary>
    private void CloseFiles()
    {
        foreach (var file in Files.Values) file.Release();
        Files.Clear();
    }

    internal void CopySignalStateFrom(Process other, bool resetHandlers)
    {
        for (int i = 0; i < _dispositions.Length; i++)
        {
            var d = other._dispositions[i];
            _dispositions[i] = resetHandlers && d == SignalDisposition.Handler ? SignalDisposition.Default : d;
        }
        _blocked = other._blocked;
    }

    internal void ResetHandlers()
    {
        for (int i = 0; i < _dispositions.Length; i++)
            if (_dispositions[i] == SignalDisposition.Handler) _dispositions[i] = SignalDisposition.Default;
    }

    public override string ToString() => $"pid {Pid}";
}
