using VmLab.Abstractions;
using VmLab.Abstractions.Signals;

namespace VmLab.Core.Tests.Fakes;

/// <summary>
/// Minimal signal delivery with Linux's rules for what the kernel model relies on: SIGKILL always terminates; a forced
/// (fault) signal that is blocked or ignored is reset to its default and unblocked; a blocked signal stays pending; an
/// ignored one does nothing; a handler runs; otherwise <see cref="DefaultAction"/>.
/// </summary>
public sealed class FakeSignals : ISignalDelivery
{
    public SignalAction Deliver(ISignalState process, in SignalInfo info, bool forced)
    {
        int signo = info.Signo;
        if (signo == Signal.SIGKILL) return SignalAction.Terminate;
        if (forced && (process.IsBlocked(signo) || process.GetDisposition(signo) == SignalDisposition.Ignore))
        {
            process.SetDisposition(signo, SignalDisposition.Default);
            process.SetBlocked(signo, false);
        }
        if (process.IsBlocked(signo)) return SignalAction.None;
        return process.GetDisposition(signo) switch
        {
            SignalDisposition.Ignore => SignalAction.None,
            SignalDisposition.Handler => SignalAction.RunHandler,
            _ => DefaultAction(signo),
        };
    }

    /// <summary>The default actions this fake knows (signal(7)): core dump for the fault signals and SIGQUIT..SIGFPE, nothing for SIGCHLD, SIGURG and SIGWINCH, termination otherwise.</summary>
    public static SignalAction DefaultAction(int signo) => signo switch
    {
        Signal.SIGSEGV or Signal.SIGBUS or 3 or 4 or 5 or 6 or 8 => SignalAction.TerminateWithCore,
        17 or 23 or 28 => SignalAction.None,
        _ => SignalAction.Terminate,
    };
}
