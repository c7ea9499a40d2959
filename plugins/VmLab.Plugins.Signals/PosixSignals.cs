using VmLab.Abstractions;
using VmLab.Abstractions.Plugins;
using VmLab.Abstractions.Signals;

[assembly: VmLabPlugin(typeof(VmLab.Plugins.Signals.SignalsModule))]

namespace VmLab.Plugins.Signals;

/// <summary>
/// POSIX delivery as Linux implements it. A synchronous signal forced by a fault that is blocked or ignored is reset
/// to its default action and unblocked (<c>force_sig_info_to_task</c>), so the process dies. SIGSEGV and SIGBUS
/// terminate with core by default; SIGKILL cannot be caught, blocked or ignored.
/// </summary>
public sealed class PosixSignals : ISignalDelivery
{
    public SignalAction Deliver(ISignalState process, in SignalInfo info, bool forced)
    {
        int signo = info.Signo;
        if (signo == Signal.SIGKILL) return SignalAction.Terminate;

        var disposition = process.GetDisposition(signo);
        bool blocked = process.IsBlocked(signo);
        if (forced && (blocked || disposition == SignalDisposition.Ignore))
        {
            process.SetDisposition(signo, SignalDisposition.Default);
            process.SetBlocked(signo, false);
            disposition = SignalDisposition.Default;
            blocked = false;
        }
        if (blocked) return SignalAction.None;

        return disposition switch
        {
            SignalDisposition.Ignore => SignalAction.None,
            SignalDisposition.Handler => SignalAction.RunHandler,
            _ => DefaultAction(signo),
        };
    }

    /// <summary>The default action of a signal (signal(7)).</summary>
    public static SignalAction DefaultAction(int signo) => signo switch
    {
        Signal.SIGSEGV or Signal.SIGBUS or 3 or 4 or 5 or 6 or 8 or 24 or 25 or 31 => SignalAction.TerminateWithCore,
        17 or 23 or 28 => SignalAction.None,
        _ => SignalAction.Terminate,
    };
}

public sealed class SignalsModule : IPluginModule
{
    public void Register(IPluginRegistry registry) =>
        registry.AddSignals<PosixSignals, NoOptions>(
            "posix",
            "POSIX signals as Linux delivers them: handlers, masks, default actions, forced fault signals.",
            _ => new PosixSignals());
}
