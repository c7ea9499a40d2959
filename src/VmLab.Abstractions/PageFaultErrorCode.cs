namespace VmLab.Abstractions;

/// <summary>
/// The x86 page-fault error code pushed by the CPU: bit0 P (0 = not present, 1 = protection), bit1 W,
/// bit2 U (user mode), bit3 RSVD, bit4 I (instruction fetch), bit5 PK (protection key).
/// </summary>
public readonly record struct PageFaultErrorCode(uint Value)
{
    public const uint PresentBit = 1u << 0;
    public const uint WriteBit = 1u << 1;
    public const uint UserBit = 1u << 2;
    public const uint ReservedBit = 1u << 3;
    public const uint FetchBit = 1u << 4;
    public const uint ProtectionKeyBit = 1u << 5;

    public bool Protection => (Value & PresentBit) != 0;
    public bool Write => (Value & WriteBit) != 0;
    public bool User => (Value & UserBit) != 0;
    public bool Reserved => (Value & ReservedBit) != 0;
    public bool Fetch => (Value & FetchBit) != 0;
    public bool ProtectionKey => (Value & ProtectionKeyBit) != 0;

    /// <summary>The error code for an access of this kind and mode; <paramref name="present"/> sets P.</summary>
    public static PageFaultErrorCode For(AccessKind kind, AccessMode mode, bool present)
    {
        uint v = present ? PresentBit : 0;
        if (kind == AccessKind.Write) v |= WriteBit;
        if (kind == AccessKind.Fetch) v |= FetchBit;
        if (mode == AccessMode.User) v |= UserBit;
        return new PageFaultErrorCode(v);
    }

    public PageFaultErrorCode With(uint bits) => new(Value | bits);

    /// <summary>The bits by name: <c>P</c> (or <c>!P</c> for not present), then those of <c>W</c>, <c>U</c>, <c>RSVD</c>, <c>I</c>, <c>PK</c> that are set, joined by <c>|</c>.</summary>
    public string Bits
    {
        get
        {
            var parts = new List<string>(6) { Protection ? "P" : "!P" };
            if (Write) parts.Add("W");
            if (User) parts.Add("U");
            if (Reserved) parts.Add("RSVD");
            if (Fetch) parts.Add("I");
            if (ProtectionKey) parts.Add("PK");
            return string.Join('|', parts);
        }
    }

    public override string ToString() => $"0x{Value:x} ({Bits})";
}
