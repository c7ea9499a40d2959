using System.Numerics;
using System.Runtime.CompilerServices;
using VmLab.Abstractions;
using VmLab.Abstractions.PageTables;
using VmLab.Plugins.PageTables.Radix;

namespace VmLab.Plugins.PageTables;

/// <summary>
/// Entry bits and leaf rules shared by the x86 formats (32-bit, PAE, 4/5-level): 0 P, 1 R/W, 2 U/S, 3 PWT, 4 PCD,
/// 5 A, 6 D, 7 PS (PAT in a 4 KiB PTE), 8 G, 9..11 ignored (bit 9 marks a swap entry when P = 0), 63 XD.
/// </summary>
public static class X86Paging
{
    public const ulong P = 1UL << 0, RW = 1UL << 1, US = 1UL << 2, A = 1UL << 5, D = 1UL << 6, PS = 1UL << 7, G = 1UL << 8, XD = 1UL << 63;

    /// <summary>A software bit (ignored by the CPU) marking a non-present entry that holds a swap slot.</summary>
    public const ulong SwapMarker = 1UL << 9;
    /// <summary>A PROT_NONE entry: P = 0, <c>_PAGE_PROTNONE</c> (the G bit position), frame, A and D kept.</summary>
    public const ulong ProtNoneBit = 1UL << 8;
    /// <summary>Where a 4/5-level leaf holds its protection key (bits 62..59); reserved in PAE entries.</summary>
    public const int PkeyShift = 59;

    /// <summary>Encodes a PROT_NONE leaf of the x86 formats.</summary>
    public static ulong EncodeProtNone(in PageMapping m, ulong addressMask)
    {
        ulong e = ((m.Frame << 12) & addressMask) | ProtNoneBit;
        if ((m.Flags & PageFlags.Accessed) != 0) e |= A;
        if ((m.Flags & PageFlags.Dirty) != 0) e |= D;
        return e;
    }

    /// <summary>Decodes a non-present x86 entry: a swap entry, a PROT_NONE page, or nothing.</summary>
    public static PageMapping DecodeNotPresent(ulong e, ulong addressMask, int pageShift)
    {
        if ((e & SwapMarker) != 0) return new PageMapping((e & addressMask) >> 12, PageFlags.Swapped);
        if ((e & ProtNoneBit) == 0) return PageMapping.Empty;
        var f = PageFlags.ProtNone;
        if ((e & A) != 0) f |= PageFlags.Accessed;
        if ((e & D) != 0) f |= PageFlags.Dirty;
        return new PageMapping((e & addressMask) >> 12, f, (byte)pageShift);
    }

    /// <summary>
    /// A leaf of the formats with 8-byte entries, PAE and 4/5-level paging, which share its layout: the low flag bits,
    /// the address under <paramref name="addressMask"/>, XD and, where the format has protection keys (4/5-level),
    /// the key in bits 62..59. Swap and PROT_NONE entries as <see cref="SwapMarker"/> and <see cref="EncodeProtNone"/>.
    /// </summary>
    public static ulong EncodeWideLeaf(in PageMapping m, int level, int shift, ulong addressMask, bool protectionKeys, string architecture)
    {
        if (m.IsEmpty) return 0;
        if (m.IsSwapped) return ((m.Frame << 12) & addressMask) | SwapMarker;
        ulong pkey = protectionKeys ? (ulong)(m.ProtectionKey & 0xF) << PkeyShift : 0;
        if (m.IsProtNone) return EncodeProtNone(m, addressMask) | pkey;
        RequireAligned(m, shift, architecture);
        if ((m.Frame << 12 & ~addressMask) != 0)
            throw new ArgumentException($"{architecture}: frame {m.Frame} is beyond MAXPHYADDR ({64 - BitOperations.LeadingZeroCount(addressMask)} bits)");
        ulong e = (m.Frame << 12) | LeafBits(m.Flags, level) | pkey;
        if ((m.Flags & PageFlags.NoExecute) != 0) e |= XD;
        return e;
    }

    /// <summary>The neutral view of a leaf-position entry of an 8-byte-entry format (the inverse of <see cref="EncodeWideLeaf"/>).</summary>
    public static PageMapping DecodeWideLeaf(ulong e, int shift, ulong addressMask, bool protectionKeys)
    {
        if (e == 0) return PageMapping.Empty;
        byte pkey = protectionKeys ? ProtectionKey(e) : (byte)0;
        if ((e & P) == 0)
        {
            var notPresent = DecodeNotPresent(e, addressMask, shift);
            return protectionKeys ? notPresent with { ProtectionKey = pkey } : notPresent;
        }
        var f = LeafFlags(e);
        if ((e & XD) != 0) f |= PageFlags.NoExecute;
        return new PageMapping((e & addressMask) >> 12, f, (byte)shift, pkey);
    }

    /// <summary>The protection key of a 4/5-level leaf (bits 62..59).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static byte ProtectionKey(ulong e) => (byte)((e >> PkeyShift) & 0xF);

    /// <summary>What Linux writes into a non-leaf entry of a user table (<c>_PAGE_TABLE</c>): P, RW, US, A, D.</summary>
    public const ulong TableEntry = P | RW | US | A | D;

    /// <summary>Narrows accumulated rights by a non-leaf entry: R/W and U/S are ANDed down the walk, XD is ORed.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Accumulate(uint rights, ulong e, bool nx)
    {
        if ((e & RW) == 0) rights &= ~Rights.Writable;
        if ((e & US) == 0) rights &= ~Rights.User;
        if (nx && (e & XD) != 0) rights |= Rights.NoExecute;
        return rights;
    }

    /// <summary>
    /// The error code the CPU pushes. I (bit 4) is reported for fetches only with PAE or 4/5-level paging and
    /// IA32_EFER.NXE = 1 (<paramref name="nx"/>), or with CR4.SMEP = 1 (SDM Vol. 3A §4.7).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static PageFaultErrorCode ErrorCode(AccessKind kind, AccessMode mode, bool present, bool nx, in CpuState cpu)
    {
        var code = PageFaultErrorCode.For(kind, mode, present);
        if (kind == AccessKind.Fetch && !nx && !cpu.Smep) code = new PageFaultErrorCode(code.Value & ~PageFaultErrorCode.FetchBit);
        return code;
    }

    /// <summary>
    /// The permission check on a leaf and the hardware's A/D update: A on every successful access, D on a write.
    /// A denied access sets neither and faults with P = 1 (and PK when the protection key denied it).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static WalkResult CompleteLeaf(ulong e, int level, int shift, ulong leafAddress, uint rights, bool nx, byte pkey,
        AccessKind kind, AccessMode mode, in CpuState cpu, out ulong updated)
    {
        var flags = PageFlags.Present;
        if ((rights & Rights.Writable) != 0 && (e & RW) != 0) flags |= PageFlags.Writable;
        if ((rights & Rights.User) != 0 && (e & US) != 0) flags |= PageFlags.User;
        if (nx && ((rights & Rights.NoExecute) != 0 || (e & XD) != 0)) flags |= PageFlags.NoExecute;
        if ((e & G) != 0) flags |= PageFlags.Global;
        var verdict = AccessCheck.Check(flags, pkey, kind, mode, cpu);
        if (verdict != AccessVerdict.Allowed)
        {
            updated = e;
            var code = ErrorCode(kind, mode, true, nx, cpu);
            if (verdict == AccessVerdict.DeniedByKey) code = code.With(PageFaultErrorCode.ProtectionKeyBit);
            return new WalkResult(WalkStatus.Protection, default, code, level);
        }
        updated = e | A;
        if (kind == AccessKind.Write) updated |= D;
        flags |= PageFlags.Accessed;
        if ((updated & D) != 0) flags |= PageFlags.Dirty;
        ulong frame = (leafAddress & ~((1UL << shift) - 1)) >> 12;
        return new WalkResult(WalkStatus.Ok, new PageMapping(frame, flags, (byte)shift, pkey), default, level);
    }

    /// <summary>The low flag bits of a leaf from neutral flags (P, RW, US, A, D, G; PS above level 1).</summary>
    public static ulong LeafBits(PageFlags f, int level)
    {
        ulong e = 0;
        if ((f & PageFlags.Present) != 0) e |= P;
        if ((f & PageFlags.Writable) != 0) e |= RW;
        if ((f & PageFlags.User) != 0) e |= US;
        if ((f & PageFlags.Accessed) != 0) e |= A;
        if ((f & PageFlags.Dirty) != 0) e |= D;
        if ((f & PageFlags.Global) != 0) e |= G;
        if (level > 1) e |= PS;
        return e;
    }

    /// <summary>Neutral flags from the low bits of a present leaf.</summary>
    public static PageFlags LeafFlags(ulong e)
    {
        var f = PageFlags.Present;
        if ((e & RW) != 0) f |= PageFlags.Writable;
        if ((e & US) != 0) f |= PageFlags.User;
        if ((e & A) != 0) f |= PageFlags.Accessed;
        if ((e & D) != 0) f |= PageFlags.Dirty;
        if ((e & G) != 0) f |= PageFlags.Global;
        return f;
    }

    /// <summary>Checks that a leaf of 2^<paramref name="shift"/> bytes starts on its own size.</summary>
    public static void RequireAligned(in PageMapping m, int shift, string architecture)
    {
        ulong framesPerPage = 1UL << (shift - 12);
        if ((m.Frame & (framesPerPage - 1)) != 0)
            throw new ArgumentException($"{architecture}: a {1UL << shift}-byte page must start on a multiple of {framesPerPage} frames, got frame {m.Frame}");
    }
}
