using System.Runtime.CompilerServices;
using BenchmarkDotNet.Attributes;
using VmLab.Abstractions;
using VmLab.Abstractions.PageTables;
using VmLab.Core;
using VmLab.Core.Memory;
using VmLab.Plugins.PageTables;

namespace VmLab.Benchmarks;

/// <summary>
/// One full page-table walk per format (no page-walk cache), over 4096 mapped 4 KiB pages (eight last-level tables)
/// walked in a random order; every walk succeeds.
/// </summary>
[MemoryDiagnoser]
[MinColumn]
public class WalkBenchmarks
{
    public const int Pages = 4096;
    private ulong[] _addresses = [];
    private RadixPageTable<X86_64Format> _x86_64;
    private RadixPageTable<X86_32Format> _x86_32;
    private RadixPageTable<X86PaeFormat> _x86Pae;
    private RadixPageTable<Arm64Format> _arm64;
    private RadixPageTable<RiscVFormat> _riscv;
    private HashedPageTable _hashed;
    private ulong _rX86_64, _rX86_32, _rX86Pae, _rArm64, _rRiscv, _rHashed;

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(1);
        _addresses = new ulong[Pages];
        for (int i = 0; i < Pages; i++) _addresses[i] = Fixtures.Base + (ulong)i * 4096 + (ulong)rng.Next(4096);
        rng.Shuffle(_addresses);
        _rX86_64 = Map(ref _x86_64, (m, f, r) => new RadixPageTable<X86_64Format>(new X86_64Format(4), m, f, r));
        _rX86_32 = Map(ref _x86_32, (m, f, r) => new RadixPageTable<X86_32Format>(new X86_32Format(), m, f, r));
        _rX86Pae = Map(ref _x86Pae, (m, f, r) => new RadixPageTable<X86PaeFormat>(new X86PaeFormat(), m, f, r));
        _rArm64 = Map(ref _arm64, (m, f, r) => new RadixPageTable<Arm64Format>(new Arm64Format(new Arm64Options()), m, f, r));
        _rRiscv = Map(ref _riscv, (m, f, r) => new RadixPageTable<RiscVFormat>(new RiscVFormat(new RiscVOptions()), m, f, r));
        _rHashed = Map(ref _hashed, (m, f, r) => new HashedPageTable(new HashedTables(new HashedOptions(), m, f, r)));
    }

    private ulong Map<TPageTable>(ref TPageTable table, Func<PhysicalMemory, FrameTable, MetricRegistry, TPageTable> create)
        where TPageTable : struct, IPageTable
    {
        var metrics = new MetricRegistry();
        var memory = new PhysicalMemory(1 << 16);
        var frames = new FrameTable(memory, metrics);
        table = create(memory, frames, metrics);
        ulong root = table.CreateRoot();
        foreach (ulong va in _addresses)
        {
            if (!frames.TryAllocate(FrameUse.User, out ulong pfn)) throw new InvalidOperationException("out of frames");
            var flags = PageFlags.Present | PageFlags.User | PageFlags.Writable | PageFlags.Accessed | PageFlags.Dirty;
            if (!table.Write(root, va & ~0xFFFUL, new PageMapping(pfn, flags))) throw new InvalidOperationException($"{typeof(TPageTable).Name}: cannot map 0x{va:x}");
        }
        if (Walk(ref table, root, _addresses) != Pages) throw new InvalidOperationException($"{typeof(TPageTable).Name}: a walk failed");
        return root;
    }

    // Fully optimised at once: one call loops over the whole stream, so tiering would leave it in OSR code.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int Walk<TPageTable>(ref TPageTable table, ulong root, ulong[] addresses) where TPageTable : struct, IPageTable
    {
        int ok = 0;
        var cpu = CpuState.LinuxDefault;
        foreach (ulong va in addresses)
            if (table.Walk(root, va, AccessKind.Read, AccessMode.User, cpu).IsOk) ok++;
        return ok;
    }

    [Benchmark(OperationsPerInvoke = Pages)] public int X86_64_4Level() => Walk(ref _x86_64, _rX86_64, _addresses);
    [Benchmark(OperationsPerInvoke = Pages)] public int X86_32() => Walk(ref _x86_32, _rX86_32, _addresses);
    [Benchmark(OperationsPerInvoke = Pages)] public int X86_32Pae() => Walk(ref _x86Pae, _rX86Pae, _addresses);
    [Benchmark(OperationsPerInvoke = Pages)] public int Arm64() => Walk(ref _arm64, _rArm64, _addresses);
    [Benchmark(OperationsPerInvoke = Pages)] public int RiscVSv39() => Walk(ref _riscv, _rRiscv, _addresses);
    [Benchmark(OperationsPerInvoke = Pages)] public int Hashed() => Walk(ref _hashed, _rHashed, _addresses);
}
