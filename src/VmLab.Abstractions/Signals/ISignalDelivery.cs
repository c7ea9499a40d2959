namespace VmLab.Abstractions.Signals;

/// <summary>What a process has asked to happen on a signal (<c>sigaction</c>).</summary>
public enum SignalDisposition : byte
{
    Default = 0,
    Ignore = 1,
    Handler = 2,
}

/// <summary>What delivering a signal does.</summary>
public enum SignalAction : byte
{
    /// <summary>Nothing happens (ignored, or blocked and left pending).</summary>
    None = 0,
    /// <summary>The process terminates (default action Term).</summary>
    Terminate = 1,
    /// <summary>The process terminates and dumps core (default action Core).</summary>
    TerminateWithCore = 2,
    /// <summary>The process's handler runs.</summary>
    RunHandler = 3,
}

/// <summary>A process's signal state as the delivery plugin reads and changes it.</summary>
public interface ISignalState
{
    SignalDisposition GetDisposition(int signo);
    void SetDisposition(int signo, SignalDisposition disposition);
    bool IsBlocked(int signo);
    void SetBlocked(int signo, bool blocked);
}

/// <summary>Signal delivery semantics.</summary>
public interface ISignalDelivery
{
    /// <summary>
    /// What happens to <paramref name="process"/> when <paramref name="info"/> is sent to it. <paramref name="forced"/>
    /// is true for synchronous signals the kernel forces on a fault (<c>force_sig_fault</c>), false for <c>kill</c>.
    /// </summary>
    SignalAction Deliver(ISignalState process, in SignalInfo info, bool forced);
}
