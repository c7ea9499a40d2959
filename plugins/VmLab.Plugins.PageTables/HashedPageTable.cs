using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Runtime.CompilerServices;
using VmLab.Abstractions;
using VmLab.Abstractions.PageTables;

namespace VmLab.Plugins.PageTables;

public sealed record HashedOptions
{
    [Description("log2 of the initial number of 8-slot groups (PTEGs): 11 = 2048 groups = 256 KiB, Linux's smallest hash table. The table doubles when both groups of a page are full.")]
    [Range(11, 24)]
    public int GroupBits { get; init; } = 11;
}

/// <summary>
/// A hashed page table in the style of the PowerPC hash MMU (Power ISA Book III, Linux's <c>mmu-hash.h</c>): one
/// global table of 16-byte HPTEs in groups of 8 (PTEGs). A process's effective address is turned into a virtual page
/// number through its 256 MiB segment's VSID (<c>vsid = (context &lt;&lt; 21 | esid) * 12538073 mod (2^40 - 1)</c>);
/// the primary hash <c>vsid ^ page-in-segment</c> selects the primary group and its complement the secondary group.
/// A walk probes the primary group's 8 slots, then the secondary's: one counted memory reference per slot probed.
/// HPTE dword 0: 0 V, 1 H (secondary), 5 software swap marker (V = 0), 51..7 AVPN (VPN >> 11); dword 1: 1..0 PP,
/// 2 N (no-execute), 4 M (coherent), 7 C (changed), 8 R (referenced), 59..12 RPN, 63 PP0. The hardware sets R and C.
/// When both groups are full the table is resized to twice as many groups and rehashed (as PAPR's HPT resizing does):
/// the AVPN and the group index recover every VPN. The root of an address space is its context id; the kernel half
/// (effective addresses from 0xC000000000000000) uses context 0. Only 4 KiB pages.
/// </summary>
public sealed class HashedTables
{
    public const ulong Valid = 1UL << 0, Secondary = 1UL << 1, SwapMarker = 1UL << 5;
    public const int AvpnShift = 7;
    /// <summary>In the second doubleword of an invalid (software) entry: a PROT_NONE page rather than a swap entry.</summary>
    public const ulong ProtNoneSoft = 1UL << 10;
    public const ulong PpMask = 3UL, NoExecute = 1UL << 2, Coherent = 1UL << 4, Changed = 1UL << 7, Referenced = 1UL << 8, Pp0 = 1UL << 63;
    public const ulong RpnMask = 0x0FFF_FFFF_FFFF_F000UL;
    public const int SegmentShift = 28;
    public const int EsidBits = 21;
    public const int ContextBits = 19;
    public const int VsidBits = 40;
    public const ulong VsidModulus = (1UL << VsidBits) - 1;
    public const ulong VsidMultiplier = 12538073;
    public const ulong UserTop = 1UL << (SegmentShift + EsidBits);
    public const ulong KernelBase = 0xC000_0000_0000_0000UL;
    private const int SlotsPerGroup = 8;
    private const int GroupsPerFrame = PhysicalMemory.FrameSize / (SlotsPerGroup * 16);

    private readonly PhysicalMemory _memory;
    private readonly IFrameAllocator _frames;
    private readonly Counter _memrefs, _memrefsL1, _secondary, _resizes;
    private readonly ulong _vsidInverse;
    private ulong[] _tableFrames;
    private ulong _hashMask;
    private readonly Stack<ulong> _freeContexts = new();
    private ulong _nextContext = 1;
    private readonly List<(ulong Address, PageMapping Leaf)> _scratch = [];

    public HashedTables(HashedOptions options, PhysicalMemory memory, IFrameAllocator frames, IMetrics metrics)
    {
        _memory = memory;
        _frames = frames;
        Geometry = new PageTableGeometry("hashed", 1, 64, [12]) { UserTop = UserTop, KernelBase = KernelBase };
        _memrefs = metrics.Counter(MetricNames.WalkMemrefs);
        _memrefsL1 = metrics.Counter("walk.memrefs.l1");
        _secondary = metrics.Counter(MetricNames.HptSecondary);
        _resizes = metrics.Counter(MetricNames.HptResizes);
        _vsidInverse = ModularInverse(VsidMultiplier, VsidModulus);
        _tableFrames = AllocateTable(1L << options.GroupBits) ?? throw new InvalidOperationException("out of physical memory for the hashed page table");
        _hashMask = (1UL << options.GroupBits) - 1;
    }

    public PageTableGeometry Geometry { get; }

    /// <summary>Groups (PTEGs) in the table now.</summary>
    public long Groups => (long)_hashMask + 1;

    /// <summary>Frames the table occupies.</summary>
    public int TableFrames => _tableFrames.Length;

    private ulong[]? AllocateTable(long groups)
    {
        var frames = new ulong[Math.Max(1, groups / GroupsPerFrame)];
        for (int i = 0; i < frames.Length; i++)
        {
            if (!_frames.TryAllocate(FrameUse.PageTable, out frames[i]))
            {
                for (int j = 0; j < i; j++) _frames.Free(frames[j], FrameUse.PageTable);
                return null;
            }
        }
        return frames;
    }

    // ---- addresses ---------------------------------------------------------------------------------------------

    /// <summary>The physical address of slot <paramref name="slot"/> (0..7) of group <paramref name="group"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong SlotAddress(ulong group, int slot) =>
        (_tableFrames[group / GroupsPerFrame] << PhysicalMemory.FrameShift) + (group % GroupsPerFrame) * (SlotsPerGroup * 16) + (ulong)slot * 16;

    /// <summary>The VPN of <paramref name="ea"/> in the address space of <paramref name="context"/>; false when no segment maps it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool Vpn(ulong context, ulong ea, out ulong vpn)
    {
        if (ea >= KernelBase) context = 0;
        else if (ea >= UserTop)
        {
            vpn = 0;
            return false;
        }
        ulong esid = (ea >> SegmentShift) & ((1UL << EsidBits) - 1);
        ulong vsid = Vsid((context << EsidBits) | esid);
        vpn = (vsid << (SegmentShift - 12)) | ((ea >> 12) & ((1UL << (SegmentShift - 12)) - 1));
        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Vsid(ulong protoVsid) => (ulong)((UInt128)protoVsid * VsidMultiplier % VsidModulus);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Hash(ulong vpn) => (vpn >> (SegmentShift - 12)) ^ (vpn & ((1UL << (SegmentShift - 12)) - 1));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Tag(ulong vpn, bool secondary) => ((vpn >> 11) << AvpnShift) | (secondary ? Secondary : 0);

    private const ulong TagMask = ~((1UL << AvpnShift) - 1) | Secondary;

    // ---- roots ---------------------------------------------------------------------------------------------------

    /// <summary>A new context id (the root of an address space in this format); no table is allocated.</summary>
    public ulong CreateRoot()
    {
        if (_freeContexts.Count > 0) return _freeContexts.Pop();
        if (_nextContext >= 1UL << ContextBits) throw new InvalidOperationException("out of hashed page table contexts");
        return _nextContext++;
    }

    /// <summary>Invalidates every HPTE of the context (a scan of the whole table) and frees the context id.</summary>
    public void DestroyRoot(ulong context)
    {
        for (ulong g = 0; g <= _hashMask; g++)
        {
            for (int s = 0; s < SlotsPerGroup; s++)
            {
                ulong a = SlotAddress(g, s);
                ulong v = _memory.Read64(a);
                if ((v & (Valid | SwapMarker)) == 0) continue;
                if (ContextOf(v, g) != context) continue;
                _memory.Write64(a, 0);
                _memory.Write64(a + 8, 0);
            }
        }
        _freeContexts.Push(context);
    }

    /// <summary>Recovers the full VPN from an HPTE's AVPN and the group it sits in.</summary>
    private ulong VpnOf(ulong v, ulong group)
    {
        ulong avpn = v >> AvpnShift; // VPN >> 11
        ulong vsid = avpn >> (SegmentShift - 12 - 11);
        ulong hash = (v & Secondary) != 0 ? ~group : group;
        ulong pageLow = (hash ^ vsid) & 0x7FF;
        return (avpn << 11) | pageLow;
    }

    private ulong ContextOf(ulong v, ulong group)
    {
        ulong vsid = VpnOf(v, group) >> (SegmentShift - 12);
        ulong proto = (ulong)((UInt128)vsid * _vsidInverse % VsidModulus);
        return proto >> EsidBits;
    }

    private ulong EffectiveAddressOf(ulong v, ulong group)
    {
        ulong vpn = VpnOf(v, group);
        ulong vsid = vpn >> (SegmentShift - 12);
        ulong proto = (ulong)((UInt128)vsid * _vsidInverse % VsidModulus);
        ulong esid = proto & ((1UL << EsidBits) - 1);
        ulong ea = (esid << SegmentShift) | ((vpn & ((1UL << (SegmentShift - 12)) - 1)) << 12);
        return (proto >> EsidBits) == 0 ? ea | KernelBase : ea;
    }

    // ---- the hardware walk -------------------------------------------------------------------------------------

    public WalkResult Walk(ulong context, ulong ea, AccessKind kind, AccessMode mode, in CpuState cpu)
    {
        if (!Vpn(context, ea, out ulong vpn))
            return new WalkResult(WalkStatus.NotPresent, default, PageFaultErrorCode.For(kind, mode, false), 1);
        ulong hash = Hash(vpn);
        ulong address = Probe(hash & _hashMask, Tag(vpn, false), counted: true);
        if (address == 0)
        {
            _secondary.Value++;
            address = Probe(~hash & _hashMask, Tag(vpn, true), counted: true);
        }
        if (address == 0)
            return new WalkResult(WalkStatus.NotPresent, default, PageFaultErrorCode.For(kind, mode, false), 1);

        ulong r = _memory.Read64(address + 8);
        var flags = Flags(r) & ~(PageFlags.Accessed | PageFlags.Dirty);
        if (AccessCheck.Check(flags, 0, kind, mode, cpu) != AccessVerdict.Allowed)
            return new WalkResult(WalkStatus.Protection, default, PageFaultErrorCode.For(kind, mode, true), 1);
        ulong updated = r | Referenced;
        if (kind == AccessKind.Write) updated |= Changed;
        if (updated != r) _memory.Write64(address + 8, updated);
        flags |= PageFlags.Accessed;
        if ((updated & Changed) != 0) flags |= PageFlags.Dirty;
        return new WalkResult(WalkStatus.Ok, new PageMapping((r & RpnMask) >> 12, flags), default, 1);
    }

    /// <summary>The address of the valid HPTE with <paramref name="tag"/> in <paramref name="group"/>, or 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong Probe(ulong group, ulong tag, bool counted)
    {
        for (int s = 0; s < SlotsPerGroup; s++)
        {
            ulong a = SlotAddress(group, s);
            ulong v = _memory.Read64(a);
            if (counted)
            {
                _memrefs.Value++;
                _memrefsL1.Value++;
            }
            if ((v & Valid) != 0 && (v & TagMask) == tag) return a;
        }
        return 0;
    }

    /// <summary>Neutral flags of a valid HPTE's second dword (PP0/PP with Linux's keys: 1 for user segments).</summary>
    private static PageFlags Flags(ulong r)
    {
        var f = PageFlags.Present;
        ulong ppp = ((r >> 61) & 4) | (r & PpMask);
        switch (ppp)
        {
            case 0b000: f |= PageFlags.Writable; break;                    // kernel read/write
            case 0b110: break;                                             // kernel read-only
            case 0b010: f |= PageFlags.User | PageFlags.Writable; break;   // user read/write
            default: f |= PageFlags.User; break;                           // 0b001, 0b011: user read-only
        }
        if ((r & NoExecute) != 0) f |= PageFlags.NoExecute;
        if ((r & Referenced) != 0) f |= PageFlags.Accessed;
        if ((r & Changed) != 0) f |= PageFlags.Dirty;
        return f;
    }

    public static ulong EncodeSecondDword(in PageMapping m)
    {
        var f = m.Flags;
        bool user = (f & PageFlags.User) != 0, writable = (f & PageFlags.Writable) != 0;
        ulong r = (m.Frame << 12) & RpnMask | Coherent;
        r |= user ? (writable ? 0b010UL : 0b011UL) : (writable ? 0UL : Pp0 | 0b010UL);
        if ((f & PageFlags.NoExecute) != 0) r |= NoExecute;
        if ((f & PageFlags.Accessed) != 0) r |= Referenced;
        if ((f & PageFlags.Dirty) != 0) r |= Changed;
        return r;
    }

    // ---- the kernel's view -------------------------------------------------------------------------------------

    /// <summary>The slot holding <paramref name="vpn"/> (valid or a swap entry), or 0.</summary>
    private ulong FindSlot(ulong vpn)
    {
        ulong hash = Hash(vpn);
        for (int pass = 0; pass < 2; pass++)
        {
            ulong group = (pass == 0 ? hash : ~hash) & _hashMask;
            ulong tag = Tag(vpn, pass == 1);
            for (int s = 0; s < SlotsPerGroup; s++)
            {
                ulong a = SlotAddress(group, s);
                ulong v = _memory.Read64(a);
                if ((v & (Valid | SwapMarker)) != 0 && (v & TagMask) == tag) return a;
            }
        }
        return 0;
    }

    public PageMapping Read(ulong context, ulong ea)
    {
        if (!Vpn(context, ea, out ulong vpn)) return PageMapping.Empty;
        ulong a = FindSlot(vpn);
        if (a == 0) return PageMapping.Empty;
        ulong v = _memory.Read64(a), r = _memory.Read64(a + 8);
        if ((v & Valid) == 0) return DecodeInvalid(r);
        return new PageMapping((r & RpnMask) >> 12, Flags(r));
    }

    private static PageMapping DecodeInvalid(ulong r)
    {
        if ((r & ProtNoneSoft) == 0) return new PageMapping((r & RpnMask) >> 12, PageFlags.Swapped);
        var f = PageFlags.ProtNone;
        if ((r & Referenced) != 0) f |= PageFlags.Accessed;
        if ((r & Changed) != 0) f |= PageFlags.Dirty;
        return new PageMapping((r & RpnMask) >> 12, f);
    }

    public void SetDirty(ulong context, ulong ea)
    {
        if (!Vpn(context, ea, out ulong vpn)) return;
        ulong a = FindSlot(vpn);
        if (a != 0 && (_memory.Read64(a) & Valid) != 0) _memory.Write64(a + 8, _memory.Read64(a + 8) | Referenced | Changed);
    }

    public bool Write(ulong context, ulong ea, in PageMapping mapping)
    {
        if (!mapping.IsEmpty && mapping.PageShift != 12)
            throw new ArgumentException($"the hashed page table maps only 4 KiB pages, not {1UL << mapping.PageShift}-byte pages");
        if (!Vpn(context, ea, out ulong vpn))
            throw new ArgumentOutOfRangeException(nameof(ea), $"0x{ea:x} is in no segment of the hashed page table");
        ulong a = FindSlot(vpn);
        if (mapping.IsEmpty)
        {
            if (a != 0)
            {
                _memory.Write64(a, 0);
                _memory.Write64(a + 8, 0);
            }
            return true;
        }
        if (a != 0)
        {
            Store(a, _memory.Read64(a) & TagMask, mapping);
            return true;
        }
        while (!TryInsert(vpn, mapping))
            if (!Resize()) return false;
        return true;
    }

    private void Store(ulong a, ulong tag, in PageMapping mapping)
    {
        if (mapping.IsSwapped || mapping.IsProtNone)
        {
            // Software entries occupy the slot without the valid bit: a swap slot, or a PROT_NONE page keeping its frame.
            ulong r = (mapping.Frame << 12) & RpnMask;
            if (mapping.IsProtNone)
            {
                r |= ProtNoneSoft;
                if ((mapping.Flags & PageFlags.Accessed) != 0) r |= Referenced;
                if ((mapping.Flags & PageFlags.Dirty) != 0) r |= Changed;
            }
            _memory.Write64(a, tag | SwapMarker);
            _memory.Write64(a + 8, r);
        }
        else
        {
            _memory.Write64(a + 8, EncodeSecondDword(mapping));
            _memory.Write64(a, tag | Valid);
        }
    }

    private bool TryInsert(ulong vpn, in PageMapping mapping)
    {
        if (!TryFindFreeSlot(vpn, out ulong a, out bool secondary)) return false;
        Store(a, Tag(vpn, secondary), mapping);
        return true;
    }

    /// <summary>The first free slot of <paramref name="vpn"/>'s primary group, else of its secondary group; false when both are full.</summary>
    private bool TryFindFreeSlot(ulong vpn, out ulong slot, out bool secondary)
    {
        ulong hash = Hash(vpn);
        for (int pass = 0; pass < 2; pass++)
        {
            ulong group = (pass == 0 ? hash : ~hash) & _hashMask;
            for (int s = 0; s < SlotsPerGroup; s++)
            {
                slot = SlotAddress(group, s);
                if ((_memory.Read64(slot) & (Valid | SwapMarker)) != 0) continue;
                secondary = pass == 1;
                return true;
            }
        }
        slot = 0;
        secondary = false;
        return false;
    }

    /// <summary>Doubles the table and rehashes every entry into it; false when memory for it is lacking.</summary>
    private bool Resize()
    {
        var oldFrames = _tableFrames;
        ulong oldMask = _hashMask;
        var entries = new List<(ulong Vpn, ulong V, ulong R)>();
        for (ulong g = 0; g <= oldMask; g++)
        {
            for (int s = 0; s < SlotsPerGroup; s++)
            {
                ulong a = SlotAddress(g, s);
                ulong v = _memory.Read64(a);
                if ((v & (Valid | SwapMarker)) == 0) continue;
                entries.Add((VpnOf(v, g), v, _memory.Read64(a + 8)));
            }
        }
        long groups = (long)oldMask + 1;
        while (true)
        {
            groups *= 2;
            var frames = AllocateTable(groups);
            if (frames is null) return false;
            _tableFrames = frames;
            _hashMask = (ulong)groups - 1;
            bool all = true;
            foreach (var (vpn, v, r) in entries)
            {
                if (!TryPlace(vpn, v & (Valid | SwapMarker), r))
                {
                    all = false;
                    break;
                }
            }
            if (all) break;
            foreach (var f in frames) _frames.Free(f, FrameUse.PageTable);
            _tableFrames = oldFrames;
            _hashMask = oldMask;
        }
        foreach (var f in oldFrames) _frames.Free(f, FrameUse.PageTable);
        _resizes.Value++;
        return true;
    }

    private bool TryPlace(ulong vpn, ulong state, ulong r)
    {
        if (!TryFindFreeSlot(vpn, out ulong a, out bool secondary)) return false;
        _memory.Write64(a + 8, r);
        _memory.Write64(a, Tag(vpn, secondary) | state);
        return true;
    }

    public void CollectLeaves(ulong context, ulong start, ulong end, List<(ulong Address, PageMapping Leaf)> into)
    {
        _scratch.Clear();
        for (ulong g = 0; g <= _hashMask; g++)
        {
            for (int s = 0; s < SlotsPerGroup; s++)
            {
                ulong a = SlotAddress(g, s);
                ulong v = _memory.Read64(a);
                if ((v & (Valid | SwapMarker)) == 0) continue;
                ulong owner = ContextOf(v, g);
                if (owner != context && owner != 0) continue;
                ulong ea = EffectiveAddressOf(v, g);
                if (ea < start || ea >= end) continue;
                ulong r = _memory.Read64(a + 8);
                _scratch.Add((ea, (v & Valid) != 0 ? new PageMapping((r & RpnMask) >> 12, Flags(r)) : DecodeInvalid(r)));
            }
        }
        _scratch.Sort((x, y) => x.Address.CompareTo(y.Address));
        into.AddRange(_scratch);
    }

    private static ulong ModularInverse(ulong a, ulong m)
    {
        long t = 0, newT = 1;
        long r = (long)m, newR = (long)a;
        while (newR != 0)
        {
            long q = r / newR;
            (t, newT) = (newT, t - q * newT);
            (r, newR) = (newR, r - q * newR);
        }
        if (r != 1) throw new InvalidOperationException("the VSID multiplier is not invertible");
        return (ulong)(t < 0 ? t + (long)m : t);
    }
}

/// <summary>The hashed format as the MMU is specialised on it.</summary>
public readonly struct HashedPageTable(HashedTables tables) : IPageTable
{
    public HashedTables Tables => tables;
    public PageTableGeometry Geometry => tables.Geometry;
    public bool IsCanonical(ulong vaddr) => true;
    public ulong CreateRoot() => tables.CreateRoot();
    public void DestroyRoot(ulong root) => tables.DestroyRoot(root);
    public WalkResult Walk(ulong root, ulong vaddr, AccessKind kind, AccessMode mode, in CpuState cpu) => tables.Walk(root, vaddr, kind, mode, cpu);
    public PageMapping Read(ulong root, ulong vaddr) => tables.Read(root, vaddr);
    public bool Write(ulong root, ulong vaddr, in PageMapping mapping) => tables.Write(root, vaddr, mapping);
    public void SetDirty(ulong root, ulong vaddr) => tables.SetDirty(root, vaddr);
    public void CollectLeaves(ulong root, ulong start, ulong end, List<(ulong Address, PageMapping Leaf)> into) => tables.CollectLeaves(root, start, end, into);
}
