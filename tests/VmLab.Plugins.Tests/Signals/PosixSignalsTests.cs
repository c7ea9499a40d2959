using VmLab.Abstractions;
using VmLab.Abstractions.Signals;
using VmLab.Plugins.Signals;

namespace VmLab.Plugins.Tests.Signals;

/// <summary>POSIX delivery as Linux does it: the disposition decides, a blocked signal waits, a forced fault signal cannot be ignored or blocked.</summary>
public sealed class PosixSignalsTests
{
    private const int SIGQUIT = 3, SIGUSR1 = 10, SIGTERM = 15, SIGCHLD = 17;

    private sealed class State : ISignalState
    {
        public readonly Dictionary<int, SignalDisposition> Dispositions = [];
        public readonly HashSet<int> Blocked = [];
        public SignalDisposition GetDisposition(int signo) => Dispositions.GetValueOrDefault(signo);
        public void SetDisposition(int signo, SignalDisposition disposition) => Dispositions[signo] = disposition;
        public bool IsBlocked(int signo) => Blocked.Contains(signo);
        public void SetBlocked(int signo, bool blocked)
        {
            if (blocked) Blocked.Add(signo);
            else Blocked.Remove(signo);
        }
    }

    private static SignalAction Kill(State state, int signo) => new PosixSignals().Deliver(state, new SignalInfo(signo, Signal.SI_USER, 0), forced: false);

    private static SignalAction Force(State state, int signo) => new PosixSignals().Deliver(state, SignalInfo.SegvMapErr(0x1000) with { Signo = signo }, forced: true);

    [Theory]
    [InlineData(SIGTERM, SignalDisposition.Handler, SignalAction.RunHandler)]
    [InlineData(SIGTERM, SignalDisposition.Ignore, SignalAction.None)]
    [InlineData(SIGTERM, SignalDisposition.Default, SignalAction.Terminate)]
    [InlineData(Signal.SIGSEGV, SignalDisposition.Default, SignalAction.TerminateWithCore)]
    [InlineData(SIGCHLD, SignalDisposition.Default, SignalAction.None)]
    [InlineData(SIGUSR1, SignalDisposition.Handler, SignalAction.RunHandler)]
    public void AnUnblockedSignalDoesWhatItsDispositionSays(int signo, SignalDisposition disposition, SignalAction expected)
    {
        var state = new State();
        state.SetDisposition(signo, disposition);
        Assert.Equal(expected, Kill(state, signo));
        Assert.Equal(disposition, state.GetDisposition(signo)); // delivery by kill changes nothing
    }

    [Fact]
    public void ABlockedSignalSentByKillStaysPendingWhateverTheDisposition()
    {
        var state = new State();
        state.SetBlocked(SIGTERM, true);
        Assert.Equal(SignalAction.None, Kill(state, SIGTERM));
        state.SetDisposition(SIGTERM, SignalDisposition.Handler);
        Assert.Equal(SignalAction.None, Kill(state, SIGTERM));
        Assert.True(state.IsBlocked(SIGTERM));
    }

    [Theory]
    [InlineData(true, SignalDisposition.Default)]
    [InlineData(false, SignalDisposition.Ignore)]
    [InlineData(true, SignalDisposition.Handler)]
    public void AForcedFaultSignalThatIsBlockedOrIgnoredIsResetToDefaultUnblockedAndKillsWithCore(bool blocked, SignalDisposition disposition)
    {
        var state = new State();
        state.SetBlocked(Signal.SIGSEGV, blocked);
        state.SetDisposition(Signal.SIGSEGV, disposition);

        Assert.Equal(SignalAction.TerminateWithCore, Force(state, Signal.SIGSEGV));
        Assert.Equal(SignalDisposition.Default, state.GetDisposition(Signal.SIGSEGV));
        Assert.False(state.IsBlocked(Signal.SIGSEGV));
    }

    [Fact]
    public void AForcedFaultSignalWithAnUnblockedHandlerRunsIt()
    {
        var state = new State();
        state.SetDisposition(Signal.SIGBUS, SignalDisposition.Handler);
        Assert.Equal(SignalAction.RunHandler, Force(state, Signal.SIGBUS));
        Assert.Equal(SignalDisposition.Handler, state.GetDisposition(Signal.SIGBUS));
    }

    [Fact]
    public void SigkillTerminatesWhateverIsAskedForItAndChangesNothing()
    {
        var state = new State();
        state.SetDisposition(Signal.SIGKILL, SignalDisposition.Ignore);
        state.SetBlocked(Signal.SIGKILL, true);
        Assert.Equal(SignalAction.Terminate, Kill(state, Signal.SIGKILL));
        Assert.Equal(SignalAction.Terminate, Force(state, Signal.SIGKILL));
    }

    [Theory]
    [InlineData(Signal.SIGSEGV, SignalAction.TerminateWithCore)]
    [InlineData(Signal.SIGBUS, SignalAction.TerminateWithCore)]
    [InlineData(SIGQUIT, SignalAction.TerminateWithCore)]
    [InlineData(SIGTERM, SignalAction.Terminate)]
    [InlineData(SIGUSR1, SignalAction.Terminate)]
    [InlineData(SIGCHLD, SignalAction.None)]
    [InlineData(28, SignalAction.None)] // SIGWINCH
    public void DefaultActionsAreThoseOfSignal7(int signo, SignalAction expected) =>
        Assert.Equal(expected, PosixSignals.DefaultAction(signo));
}
