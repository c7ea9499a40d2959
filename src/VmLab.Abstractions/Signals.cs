namespace VmLab.Abstractions;

/// <summary>Signal numbers and <c>si_code</c> values as Linux defines them.</summary>
public static class Signal
{
    public const int SIGBUS = 7;
    public const int SIGKILL = 9;
    public const int SIGSEGV = 11;
    public const int SIGPIPE = 13;

    public const int SEGV_MAPERR = 1;
    public const int SEGV_ACCERR = 2;
    public const int SEGV_PKUERR = 4;
    public const int BUS_ADRERR = 2;
    public const int SI_KERNEL = 128;
    public const int SI_USER = 0;

    public static string Name(int signo) => signo switch
    {
        SIGBUS => "SIGBUS",
        SIGKILL => "SIGKILL",
        SIGSEGV => "SIGSEGV",
        SIGPIPE => "SIGPIPE",
        _ => $"signal {signo}",
    };

    /// <summary>The name of <paramref name="code"/> as <c>siginfo.h</c> spells it for <paramref name="signo"/> (SEGV_MAPERR, BUS_ADRERR, SI_USER…).</summary>
    public static string CodeName(int signo, int code) => (signo, code) switch
    {
        (_, SI_USER) => "SI_USER",
        (_, SI_KERNEL) => "SI_KERNEL",
        (SIGSEGV, SEGV_MAPERR) => "SEGV_MAPERR",
        (SIGSEGV, SEGV_ACCERR) => "SEGV_ACCERR",
        (SIGSEGV, SEGV_PKUERR) => "SEGV_PKUERR",
        (SIGBUS, BUS_ADRERR) => "BUS_ADRERR",
        _ => code.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };
}

/// <summary>The <c>siginfo_t</c> fields VmLab models. <see cref="Pkey"/> is -1 unless <c>SEGV_PKUERR</c>.</summary>
public readonly record struct SignalInfo(int Signo, int Code, ulong Address, int Pkey = -1)
{
    public static SignalInfo SegvMapErr(ulong address) => new(Signal.SIGSEGV, Signal.SEGV_MAPERR, address);
    public static SignalInfo SegvAccErr(ulong address) => new(Signal.SIGSEGV, Signal.SEGV_ACCERR, address);
    public static SignalInfo SegvPkuErr(ulong address, int pkey) => new(Signal.SIGSEGV, Signal.SEGV_PKUERR, address, pkey);
    public static SignalInfo BusAdrErr(ulong address) => new(Signal.SIGBUS, Signal.BUS_ADRERR, address);
    /// <summary>A general-protection fault (non-canonical address): <c>SI_KERNEL</c>, <c>si_addr</c> 0.</summary>
    public static SignalInfo GeneralProtection() => new(Signal.SIGSEGV, Signal.SI_KERNEL, 0);

    public override string ToString() => $"{Signal.Name(Signo)} si_code={Signal.CodeName(Signo, Code)} si_addr=0x{Address:x}" + (Pkey >= 0 ? $" si_pkey={Pkey}" : "");
}
