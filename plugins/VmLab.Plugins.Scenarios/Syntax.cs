using System.Globalization;
using VmLab.Abstractions;
using VmLab.Abstractions.Plugins;
using VmLab.Abstractions.Workloads;

namespace VmLab.Plugins.Scenarios;

/// <summary>One whitespace-separated token and where it stands.</summary>
public readonly record struct Token(string Text, int Line, int Column);

/// <summary>An address: a region's start plus an offset, or an absolute value.</summary>
public sealed record AddressExpr(string? Region, long Offset)
{
    public override string ToString() => Region is null ? $"0x{Offset:x}" : Offset == 0 ? Region : $"{Region}{(Offset > 0 ? "+" : "-")}{Math.Abs(Offset)}";
}

/// <summary>A range: an address and a length; no length means the whole region.</summary>
public sealed record RangeExpr(AddressExpr Start, ulong? Length);

/// <summary>Reads tokens of one statement, with errors that point at the offending token.</summary>
public sealed class TokenCursor(string file, IReadOnlyList<Token> tokens, int line)
{
    private int _i;

    public string File => file;
    public int Line => line;
    public bool AtEnd => _i >= tokens.Count;
    public Token? Peek => AtEnd ? null : tokens[_i];

    public VmLabInputException Error(string message, Token? at = null)
    {
        var t = at ?? Peek;
        int column = t?.Column ?? (tokens.Count > 0 ? tokens[^1].Column + tokens[^1].Text.Length : 1);
        return new VmLabInputException($"{file}:{t?.Line ?? line}:{column}", message);
    }

    public Token Next(string what)
    {
        if (AtEnd) throw Error($"expected {what} at the end of the line");
        return tokens[_i++];
    }

    public bool TryTake(string word)
    {
        if (!AtEnd && string.Equals(tokens[_i].Text, word, StringComparison.OrdinalIgnoreCase))
        {
            _i++;
            return true;
        }
        return false;
    }

    public void Expect(string word)
    {
        var t = Next($"'{word}'");
        if (!string.Equals(t.Text, word, StringComparison.OrdinalIgnoreCase)) throw Error($"expected '{word}', got '{t.Text}'", t);
    }

    public void End()
    {
        if (!AtEnd) throw Error($"unexpected '{Peek!.Value.Text}' at the end of the statement");
    }

    public string Name(string what)
    {
        var t = Next(what);
        if (!IsName(t.Text)) throw Error($"expected {what} (letters, digits, '_' or '-', starting with a letter), got '{t.Text}'", t);
        return t.Text;
    }

    public static bool IsName(string s) =>
        s.Length > 0 && char.IsLetter(s[0]) && s.All(c => char.IsLetterOrDigit(c) || c == '_' || c == '-');

    /// <summary>A number: decimal or 0x hex, optionally negative, with a size suffix k, m, g (×1024ⁿ) or p (pages).</summary>
    public long Number(string what)
    {
        var t = Next(what);
        return TryNumber(t.Text, out long v) ? v : throw Error($"expected {what} (e.g. 42, 0x10, 4k, 3p), got '{t.Text}'", t);
    }

    public ulong Size(string what)
    {
        var t = Next(what);
        if (!TryNumber(t.Text, out long v) || v <= 0) throw Error($"expected {what}, a positive size (e.g. 4096, 16k, 1000p), got '{t.Text}'", t);
        return (ulong)v;
    }

    public bool PeekIsNumber => !AtEnd && TryNumber(tokens[_i].Text, out _);

    public static bool TryNumber(string text, out long value)
    {
        value = 0;
        if (text.Length == 0) return false;
        bool negative = text[0] == '-';
        var s = negative ? text[1..] : text;
        long scale = 1;
        if (s.Length > 1 && !s.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
        {
            switch (char.ToLowerInvariant(s[^1]))
            {
                case 'k': scale = 1L << 10; s = s[..^1]; break;
                case 'm': scale = 1L << 20; s = s[..^1]; break;
                case 'g': scale = 1L << 30; s = s[..^1]; break;
                case 'p': scale = (long)VirtualAddress.PageSize; s = s[..^1]; break;
            }
        }
        bool ok = s.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            ? ulong.TryParse(s.AsSpan(2), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out ulong u)
            : ulong.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out u);
        if (!ok) return false;
        value = unchecked((long)u * scale);
        if (negative) value = -value;
        return true;
    }

    /// <summary>REGION, REGION+N, REGION-N, or a number.</summary>
    public AddressExpr Address(Func<string, bool> regionKnown)
    {
        var t = Next("an address (a region name, region+offset, or a number)");
        string text = t.Text;
        if (TryNumber(text, out long abs)) return new AddressExpr(null, abs);
        int op = text.IndexOfAny(['+', '-'], 1);
        string region = op < 0 ? text : text[..op];
        long offset = 0;
        if (op >= 0)
        {
            if (!TryNumber(text[(op + 1)..], out offset)) throw Error($"bad offset in '{text}' (e.g. a+5, a+3p, a+0x10)", t);
            if (text[op] == '-') offset = -offset;
        }
        if (!IsName(region)) throw Error($"expected an address, got '{text}'", t);
        if (!regionKnown(region)) throw Error($"unknown region '{region}': define it first with mmap or sbrk", t);
        return new AddressExpr(region, offset);
    }

    /// <summary>ADDR [LENGTH]; without a length the address must be a bare region (its whole extent).</summary>
    public RangeExpr Range(Func<string, bool> regionKnown)
    {
        var start = Address(regionKnown);
        if (PeekIsNumber) return new RangeExpr(start, Size("a length"));
        if (start.Region is null || start.Offset != 0) throw Error("give a length after an address that is not a whole region (e.g. a+2p 3p)");
        return new RangeExpr(start, null);
    }

    public Protection Protection()
    {
        var t = Next("a protection (none, r, rw, rx, rwx, w, x, wx)");
        if (string.Equals(t.Text, "none", StringComparison.OrdinalIgnoreCase)) return Abstractions.Protection.None;
        var p = Abstractions.Protection.None;
        foreach (char c in t.Text.ToLowerInvariant())
        {
            var bit = c switch { 'r' => Abstractions.Protection.Read, 'w' => Abstractions.Protection.Write, 'x' => Abstractions.Protection.Exec, _ => (Protection?)null };
            if (bit is null || (p & bit.Value) != 0) throw Error($"expected a protection (none, or letters of rwx), got '{t.Text}'", t);
            p |= bit.Value;
        }
        return p;
    }

    public int Signal()
    {
        var t = Next("a signal (SIGSEGV, SIGBUS, SIGKILL, SIGUSR1, ... or a number)");
        return TrySignal(t.Text, out int s) ? s : throw Error($"unknown signal '{t.Text}'; e.g. SIGSEGV, SIGBUS, SIGKILL, SIGUSR1, SIGTERM", t);
    }

    public static bool TrySignal(string text, out int signo)
    {
        signo = text.ToUpperInvariant() switch
        {
            "SIGHUP" => 1, "SIGINT" => 2, "SIGQUIT" => 3, "SIGILL" => 4, "SIGTRAP" => 5, "SIGABRT" => 6, "SIGBUS" => 7,
            "SIGFPE" => 8, "SIGKILL" => 9, "SIGUSR1" => 10, "SIGSEGV" => 11, "SIGUSR2" => 12, "SIGPIPE" => 13,
            "SIGALRM" => 14, "SIGTERM" => 15, "SIGCHLD" => 17, "SIGCONT" => 18, "SIGSTOP" => 19,
            _ => int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n is > 0 and < 65 ? n : 0,
        };
        return signo != 0;
    }

    public static string SignalName(int signo) => signo switch
    {
        1 => "SIGHUP", 2 => "SIGINT", 3 => "SIGQUIT", 4 => "SIGILL", 5 => "SIGTRAP", 6 => "SIGABRT", 7 => "SIGBUS", 8 => "SIGFPE",
        9 => "SIGKILL", 10 => "SIGUSR1", 11 => "SIGSEGV", 12 => "SIGUSR2", 13 => "SIGPIPE", 14 => "SIGALRM", 15 => "SIGTERM",
        17 => "SIGCHLD", 18 => "SIGCONT", 19 => "SIGSTOP", _ => signo.ToString(CultureInfo.InvariantCulture),
    };

    /// <summary>An si_code: a number or SEGV_MAPERR, SEGV_ACCERR, SEGV_PKUERR, BUS_ADRERR, SI_KERNEL, SI_USER.</summary>
    public int SiCode()
    {
        var t = Next("an si_code (SEGV_MAPERR, SEGV_ACCERR, SEGV_PKUERR, BUS_ADRERR, SI_KERNEL, SI_USER or a number)");
        int code = t.Text.ToUpperInvariant() switch
        {
            "SEGV_MAPERR" => Abstractions.Signal.SEGV_MAPERR,
            "SEGV_ACCERR" => Abstractions.Signal.SEGV_ACCERR,
            "SEGV_PKUERR" => Abstractions.Signal.SEGV_PKUERR,
            "BUS_ADRERR" => Abstractions.Signal.BUS_ADRERR,
            "SI_KERNEL" => Abstractions.Signal.SI_KERNEL,
            "SI_USER" => Abstractions.Signal.SI_USER,
            _ => int.TryParse(t.Text, NumberStyles.None, CultureInfo.InvariantCulture, out int n) ? n : -1,
        };
        return code >= 0 ? code : throw Error($"unknown si_code '{t.Text}'", t);
    }

    /// <summary>A value to compare with: a number or -ERRNO.</summary>
    public long Value()
    {
        var t = Next("a value (a number or -EFAULT style errno)");
        if (TryNumber(t.Text, out long v)) return v;
        if (t.Text.StartsWith('-') && Errno.TryParse(t.Text[1..], out int e)) return -e;
        throw Error($"expected a value (e.g. 42, 0x42, -EFAULT), got '{t.Text}'", t);
    }

    public Comparison Comparison()
    {
        var t = Next("a comparison (==, !=, <, <=, >, >=)");
        return t.Text switch
        {
            "==" => Scenarios.Comparison.Equal,
            "!=" => Scenarios.Comparison.NotEqual,
            "<" => Scenarios.Comparison.Less,
            "<=" => Scenarios.Comparison.LessOrEqual,
            ">" => Scenarios.Comparison.Greater,
            ">=" => Scenarios.Comparison.GreaterOrEqual,
            _ => throw Error($"expected a comparison (==, !=, <, <=, >, >=), got '{t.Text}'", t),
        };
    }
}

public enum Comparison { Equal, NotEqual, Less, LessOrEqual, Greater, GreaterOrEqual }

public static class ComparisonExtensions
{
    public static bool Holds(this Comparison c, long actual, long expected) => c switch
    {
        Comparison.Equal => actual == expected,
        Comparison.NotEqual => actual != expected,
        Comparison.Less => actual < expected,
        Comparison.LessOrEqual => actual <= expected,
        Comparison.Greater => actual > expected,
        _ => actual >= expected,
    };

    public static string Symbol(this Comparison c) => c switch
    {
        Comparison.Equal => "==",
        Comparison.NotEqual => "!=",
        Comparison.Less => "<",
        Comparison.LessOrEqual => "<=",
        Comparison.Greater => ">",
        _ => ">=",
    };
}
