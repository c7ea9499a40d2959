namespace VmLab.Abstractions;

/// <summary>
/// Architecture-neutral view of a page-table leaf. Each page-table plugin translates between these flags and its
/// architecture's real encoding; the MMU core and the fault handlers speak only this language.
/// </summary>
[Flags]
public enum PageFlags : ushort
{
    None = 0,
    Present = 1 << 0,
    Writable = 1 << 1,
    User = 1 << 2,
    /// <summary>No execution at any privilege (x86 NX, arm64 UXN for user pages).</summary>
    NoExecute = 1 << 3,
    Accessed = 1 << 4,
    Dirty = 1 << 5,
    Global = 1 << 6,
    /// <summary>No execution at kernel privilege (arm64 PXN).</summary>
    PrivilegedNoExecute = 1 << 7,
    /// <summary>Not present; <see cref="PageMapping.Frame"/> holds a swap slot.</summary>
    Swapped = 1 << 8,
    /// <summary>Not present to the hardware (PROT_NONE), but the frame stays mapped and is restored by mprotect.</summary>
    ProtNone = 1 << 9,
}

/// <summary>Memory protection of a VMA, as <c>PROT_*</c>.</summary>
[Flags]
public enum Protection : byte
{
    None = 0,
    Read = 1,
    Write = 2,
    Exec = 4,
    ReadWrite = Read | Write,
    All = Read | Write | Exec,
}

/// <summary>One leaf translation: frame (or swap slot when <see cref="PageFlags.Swapped"/>), flags, page size, key.</summary>
public readonly record struct PageMapping(ulong Frame, PageFlags Flags, byte PageShift = 12, byte ProtectionKey = 0)
{
    public static readonly PageMapping Empty = default;
    public bool IsPresent => (Flags & PageFlags.Present) != 0;
    public bool IsSwapped => (Flags & PageFlags.Swapped) != 0;
    public bool IsProtNone => (Flags & PageFlags.ProtNone) != 0;
    /// <summary>Holds a frame, accessible or not (present or PROT_NONE).</summary>
    public bool HoldsFrame => (Flags & (PageFlags.Present | PageFlags.ProtNone)) != 0;
    public bool IsEmpty => Flags == PageFlags.None && Frame == 0;
    public bool Has(PageFlags f) => (Flags & f) == f;
    public PageMapping With(PageFlags add) => this with { Flags = Flags | add };
    public PageMapping Without(PageFlags remove) => this with { Flags = Flags & ~remove };
}

/// <summary>The processor state a translation depends on.</summary>
public readonly record struct CpuState(bool Smap, bool Smep, bool UaccessOpen, uint Pkru)
{
    public static readonly CpuState LinuxDefault = new(Smap: true, Smep: true, UaccessOpen: false, Pkru: 0);
}

/// <summary>The answer of a permission check.</summary>
public enum AccessVerdict : byte
{
    Allowed = 0,
    Denied = 1,
    DeniedByKey = 2,
}

/// <summary>
/// The x86-64 permission rules over neutral flags (U/S, R/W with CR0.WP set, NX, SMEP, SMAP, PKRU), shared by
/// the TLB-hit check and the walkers so that both decide alike.
/// </summary>
public static class AccessCheck
{
    public static AccessVerdict Check(PageFlags flags, byte pkey, AccessKind kind, AccessMode mode, in CpuState cpu)
    {
        bool userPage = (flags & PageFlags.User) != 0;
        if (mode == AccessMode.User)
        {
            if (!userPage) return AccessVerdict.Denied;
            if (kind == AccessKind.Fetch) return (flags & PageFlags.NoExecute) != 0 ? AccessVerdict.Denied : AccessVerdict.Allowed;
            if (kind == AccessKind.Write && (flags & PageFlags.Writable) == 0) return AccessVerdict.Denied;
            if (cpu.Pkru != 0 && pkey != 0)
            {
                uint bits = cpu.Pkru >> (2 * pkey);
                if ((bits & 1) != 0) return AccessVerdict.DeniedByKey;
                if (kind == AccessKind.Write && (bits & 2) != 0) return AccessVerdict.DeniedByKey;
            }
            return AccessVerdict.Allowed;
        }

        if (kind == AccessKind.Fetch)
        {
            if ((flags & (PageFlags.NoExecute | PageFlags.PrivilegedNoExecute)) != 0) return AccessVerdict.Denied;
            return userPage && cpu.Smep ? AccessVerdict.Denied : AccessVerdict.Allowed;
        }
        if (userPage && cpu.Smap && !cpu.UaccessOpen) return AccessVerdict.Denied;
        if (kind == AccessKind.Write && (flags & PageFlags.Writable) == 0) return AccessVerdict.Denied;
        return AccessVerdict.Allowed;
    }
}
