using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace VmLab.Cli.Calibrate;

/// <summary>
/// What the host is, for the profile's provenance: CPU model, kernel, CPU count, the clock /proc/cpuinfo gives, and the
/// load average when calibration started (a busy host measures slower).
/// </summary>
public sealed record HostDescription(string CpuModel, string Kernel, int Cpus, double? CpuinfoGHz, string? LoadAverage = null)
{
    /// <summary>This machine, from /proc/cpuinfo and /proc/sys/kernel/osrelease (Linux only).</summary>
    public static HostDescription ThisLinuxHost()
    {
        string model = "unknown CPU";
        double? mhz = null;
        if (File.Exists("/proc/cpuinfo"))
            foreach (var line in File.ReadLines("/proc/cpuinfo"))
            {
                int colon = line.IndexOf(':', StringComparison.Ordinal);
                if (colon < 0) continue;
                string key = line[..colon].Trim(), value = line[(colon + 1)..].Trim();
                if (key == "model name" && model == "unknown CPU") model = value;
                else if (key == "cpu MHz" && mhz is null && double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double m) && m > 0) mhz = m;
            }
        string kernel = File.Exists("/proc/sys/kernel/osrelease") ? File.ReadAllText("/proc/sys/kernel/osrelease").Trim() : Environment.OSVersion.VersionString;
        string? load = File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : null;
        return new HostDescription(model, kernel, Environment.ProcessorCount, mhz / 1000, load);
    }
}

/// <summary>How the microbenchmarks ran: runs of each, pages per fault benchmark, loads per pointer chase.</summary>
public sealed record CalibrationSettings(int Repeat, int Pages, int ChaseLoads, bool Quick)
{
    public const int MaxRepeat = 101;

    public static CalibrationSettings For(bool quick, int? repeat) =>
        quick ? new(repeat ?? 1, 512, 50_000, true) : new(repeat ?? 5, 2048, 500_000, false);
}

/// <summary>
/// The timing profile (the format of docs/calibrate.md, shared with the <c>analytic</c> timing model) derived from the
/// figures the microbenchmarks of <c>calibrate.c</c> print: nanoseconds per event, converted to cycles at the measured
/// clock. Every cost says in <c>sources</c> how it was obtained, and the costs that cannot be measured by an
/// unprivileged process are documented defaults marked "not measured".
/// </summary>
public sealed class ProfileDerivation
{
    /// <summary>Every cost key of the profile format, in its order.</summary>
    public static readonly IReadOnlyList<string> CycleKeys =
    [
        "tlbHit", "walkCacheHit", "memoryAccess", "faultEntryExit", "demandZero", "zeroPageMap", "cowCopy", "cowReuse",
        "swapIn", "fileCacheHit", "fileRead", "stackGrowth", "signalDelivery", "sigreturn", "tlbFlush", "tlbFlushPage", "shootdownIpi",
        "syscallEntryExit", "pageTablePageCopied", "pageUnmapped", "pageProtected", "vmaChange", "reclaimScan", "reclaimEvict",
    ];

    /// <summary>The read latency of the ssd swap preset (µs), which also stands for a file read from disk.</summary>
    public const double SsdReadMicros = 80;

    /// <summary>The cycles of a local flush, not measured (docs/calibrate.md).</summary>
    public const double TlbFlushCycles = 200;

    /// <summary>The sizes (pages) of calibrate.c's bench_flush_kinds: 1 and <see cref="PagedPages"/> are flushed page by page, <see cref="SpanPages"/> and <see cref="BigPages"/> whole.</summary>
    public const int PagedPages = 8, SpanPages = 64, BigPages = 512;

    /// <summary>Defaults, in cycles, of the costs no benchmark measured (the profile format's example values).</summary>
    private static readonly Dictionary<string, double> Defaults = new(StringComparer.Ordinal)
    {
        ["reclaimScan"] = 50,
        ["reclaimEvict"] = 400,
        ["shootdownIpi"] = 3000,
        ["stackGrowth"] = 400,
        ["fileCacheHit"] = 600,
    };

    private readonly IReadOnlyDictionary<string, double> _ns;
    private readonly Dictionary<string, JsonNode> _cycles = new(StringComparer.Ordinal);
    private readonly List<string> _sources = [];

    private ProfileDerivation(IReadOnlyDictionary<string, double> figures) => _ns = figures;

    /// <summary>The clock the profile uses (GHz) and where it comes from.</summary>
    public double ClockGHz { get; private set; }

    /// <summary>
    /// The profile from <paramref name="figures"/> (the "key value" lines of calibrate.c). A figure every cost needs
    /// (the system call, the first touches) missing is an <see cref="InvalidOperationException"/>: the benchmark run broke.
    /// </summary>
    public static JsonObject Derive(IReadOnlyDictionary<string, double> figures, HostDescription host, CalibrationSettings settings, string version, DateTime when)
    {
        var d = new ProfileDerivation(figures);
        d.Clock(host);
        d.Costs();
        string swapKind = SwapKind(out string swapSource);
        d._sources.Add(swapSource);
        var cycles = new JsonObject();
        foreach (var key in CycleKeys)
            cycles[key] = d._cycles.TryGetValue(key, out var value) ? value : throw new InvalidOperationException($"no value derived for '{key}'");
        var sources = new JsonArray(
            JsonValue.Create($"vmlab calibrate {version} on {host.CpuModel} ({host.Cpus} CPUs), kernel {host.Kernel}, {when.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture)} UTC{(host.LoadAverage is { } l ? $", load average {l} at the start" : "")}"),
            JsonValue.Create(Invariant($"microbenchmarks: {(settings.Quick ? "--quick, " : "")}{settings.Repeat} run(s) each, {settings.Pages} pages per fault benchmark, {settings.ChaseLoads} loads per pointer chase; medians of chunked timings, pinned to one CPU, THP off except the huge-page chase (docs/calibrate.md)")));
        foreach (var s in d._sources) sources.Add(JsonValue.Create(s));
        return new JsonObject
        {
            ["name"] = $"host-{when.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)}",
            ["clockGHz"] = Math.Round(d.ClockGHz, 3),
            ["sources"] = sources,
            ["cycles"] = cycles,
            ["swapDevice"] = new JsonObject { ["kind"] = swapKind },
        };
    }

    /// <summary>The profile as the file holds it: indented JSON and a final newline.</summary>
    public static string ToText(JsonObject profile) => profile.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }) + "\n";

    private void Clock(HostDescription host)
    {
        if (_ns.TryGetValue("clock_ghz", out double measured) && measured > 0)
        {
            ClockGHz = measured;
            _sources.Add(Invariant($"clockGHz: {measured:0.###} GHz measured (a chain of dependent adds, one per cycle; the fastest of 50 runs){(host.CpuinfoGHz is double c ? $"; /proc/cpuinfo says {c:0.###} GHz" : "")}"));
        }
        else if (host.CpuinfoGHz is double cpuinfo)
        {
            ClockGHz = cpuinfo;
            _sources.Add(Invariant($"clockGHz: {cpuinfo:0.###} GHz from /proc/cpuinfo 'cpu MHz' (no add chain for this architecture)"));
        }
        else throw new InvalidOperationException("the clock could not be measured and /proc/cpuinfo gives no 'cpu MHz'");
    }

    private double Ns(string key) => _ns.TryGetValue(key, out double v)
        ? v
        : throw new InvalidOperationException($"the microbenchmarks reported no '{key}'");

    private double? Maybe(string key) => _ns.TryGetValue(key, out double v) ? v : null;

    private void Set(string key, double ns, string how)
    {
        double cycles = Math.Max(0, ns) * ClockGHz;
        _cycles[key] = Math.Round(cycles, 1);
        _sources.Add(Invariant($"{key}: {how}{(ns < 0 ? $" = {ns:0} ns, below 0 within noise: 0" : $" = {ns:0.#} ns")}"));
    }

    private void Default(string key, double cycles, string why)
    {
        _cycles[key] = cycles;
        _sources.Add(Invariant($"{key}: not measured ({why}): {cycles:0.#} cycles"));
    }

    private void Costs()
    {
        double syscall = Ns("syscall_ns");
        double write = Ns("write_touch_ns"), populateWrite = Ns("populate_write_ns");
        double read = Ns("read_touch_ns"), populateRead = Ns("populate_read_ns");
        double entry = write - populateWrite;

        // Translation.
        double l1 = Ns("chase_l1_ns"), l2 = Ns("chase_l2tlb_ns");
        _cycles["tlbHit"] = new JsonArray(Math.Round(l1 * ClockGHz, 1), Math.Round(Math.Max(l1, l2) * ClockGHz, 1));
        _sources.Add(Invariant($"tlbHit: [L1, L2] = a pointer chase over 32 lines of one page (L1 TLB and L1D hits, the load-to-use latency: {l1:0.##} ns) and over one line in each of 256 pages (L1 TLB misses that hit the L2 TLB, lines in L1D: {l2:0.##} ns)"));
        double walk4k = Ns("chase_walk_4k_ns"), walk2m = Ns("chase_walk_2m_ns");
        double walkHuge = Maybe("chase_walk_huge_fraction") ?? 0;
        if (walkHuge >= 0.9 && walk4k > walk2m)
            Set("walkCacheHit", walk4k - walk2m, Invariant($"an L2 TLB miss whose walk the page-walk and data caches serve: a chase over one line in each of 8192 pages (512 KiB of lines), 4 KiB pages {walk4k:0.#} ns minus 2 MiB pages {walk2m:0.#} ns"));
        else
            Default("walkCacheHit", 1, Invariant($"the 8192-page chase took {walk4k:0.#} ns with 4 KiB pages and {walk2m:0.#} ns with 2 MiB pages ({walkHuge:P0} of them huge): huge pages did not shorten it, as in a guest whose huge pages the host backs with small ones"));
        double dram2m = Ns("chase_dram_2m_ns"), dram4k = Ns("chase_dram_4k_ns");
        double dramHuge = Maybe("chase_dram_huge_fraction") ?? 0;
        if (dramHuge >= 0.9)
            Set("memoryAccess", dram2m, Invariant($"a random chase over 256 MiB with 2 MiB pages (TLB hits, every load from DRAM; with 4 KiB pages {dram4k:0.#} ns)"));
        else
            Set("memoryAccess", dram4k, Invariant($"a random chase over 256 MiB; only {dramHuge:P0} of it got huge pages, so the 4 KiB-page chase (walks included) is used"));

        // Faults.
        Set("faultEntryExit", entry, Invariant($"first write touch of an anonymous page {write:0.#} ns minus the same kernel work through MADV_POPULATE_WRITE {populateWrite:0.#} ns/page (read: {read:0.#} - {populateRead:0.#} = {read - populateRead:0.#} ns)"));
        if (Maybe("populated_touch_ns") is double after)
        {
            // The first user access to a page the kernel has just mapped costs a TLB miss on bare metal. A host that
            // builds its own page tables behind the guest's (software or shadow paging) charges it much more, and then
            // the fault's split into entry/exit and work does not hold: the sum does, the parts do not.
            _sources.Add(Invariant($"check: the first write to pages MADV_POPULATE_WRITE had mapped took {after:0.#} ns/page (a TLB miss on bare metal)"));
            if (after > populateWrite)
                _sources.Add("warning: that first write costs more than mapping the page: this host (a guest whose hypervisor maintains its own page tables?) makes the first access to a newly mapped page expensive, so faultEntryExit absorbs that cost and the costs derived by subtracting it (fileCacheHit, cowCopy, cowReuse) are too low; faultEntryExit + demandZero still equals a first write touch");
        }
        Set("demandZero", populateWrite, "MADV_POPULATE_WRITE of fresh anonymous pages, per page, less the call's entry (allocate, zero 4 KiB, map)");
        Set("zeroPageMap", populateRead, Maybe("zero_page") == 0
            ? "MADV_POPULATE_READ of fresh anonymous pages, per page, less the call's entry; this kernel maps no zero page on a read fault (it allocates and zeroes a frame), so this is that allocation's cost, and a machine for this host sets zeroPage false"
            : "MADV_POPULATE_READ of fresh anonymous pages, per page, less the call's entry (map the zero page)");
        double copy = Ns("cow_copy_touch_ns"), reuse = Ns("cow_reuse_touch_ns");
        Set("cowReuse", reuse - entry, Invariant($"a write to a page after the child that shared it exited, {reuse:0.#} ns/page, minus faultEntryExit"));
        _cycles["swapIn"] = Math.Round(Math.Max(0, populateWrite) * ClockGHz, 1);
        _sources.Add("swapIn: not measured (it needs a swap device, which an unprivileged process cannot add): estimated as demandZero, the frame's allocation and mapping, the device's copy in place of the zeroing (swapDevice carries the device's latency)");
        if (Maybe("file_fault_ns") is double file)
            Set("fileCacheHit", file - entry, Invariant($"a read fault on a MAP_PRIVATE file mapping whose pages are in the page cache, one every 16 pages, {file:0.#} ns/fault, minus faultEntryExit (includes fault-around mapping up to 15 cached neighbours, as VmLab's machine:pageCache faultAroundBytes does)"));
        else Default("fileCacheHit", Defaults["fileCacheHit"], "no file could be created in the scratch directory");
        double fileCacheHit = _cycles["fileCacheHit"].GetValue<double>();
        _cycles["fileRead"] = Math.Round(fileCacheHit + SsdReadMicros * 1000 * ClockGHz, 1);
        _sources.Add(Invariant($"fileRead: not measured (reading a page from disk needs the page cache dropped, which takes root): fileCacheHit plus the ssd preset's {SsdReadMicros:0} µs read"));
        if (Maybe("stack_touch_ns") is double stack)
            Set("stackGrowth", stack - write, Invariant($"a write to the page below the stack VMA, growing it, {stack:0.#} ns/page, minus the first write touch of an anonymous page"));
        else Default("stackGrowth", Defaults["stackGrowth"], "RLIMIT_STACK too small to grow the stack 4 MiB");

        // Signals. Delivery is timed on a signal the process sends itself, which involves no fault: on a guest where
        // the first access to a mapped page is expensive, faultEntryExit absorbs that cost and a fault-based
        // difference says nothing about delivery (the fault-based figure is given beside it).
        double deliver = Ns("signal_deliver_ns"), back = Ns("signal_return_ns");
        double raise = Ns("signal_raise_ns");
        Set("signalDelivery", raise - syscall, Invariant($"tgkill(2) of SIGUSR1 to the calling thread until the handler's first instruction, {raise:0.#} ns, minus syscallEntryExit {syscall:0.#} ns, which the model charges the call (a write to a read-only page until the SIGSEGV handler's first instruction took {deliver:0.#} ns; less faultEntryExit that is {deliver - entry:0} ns; the raised signal's handler return and sigreturn took {Maybe("signal_raise_return_ns") ?? 0:0} ns)"));
        Set("sigreturn", back, "from the handler's last instruction (it made the page writable) until the write retried and completed");

        // System calls by their work. Linux flushes a range of up to 33 pages one page at a time (invlpg) and a longer
        // one whole, so a per-page cost is the difference of two calls whose flush is of the same kind (calibrate.c's
        // bench_flush_kinds): 64 and 512 pages both flush whole (pageProtected, pageUnmapped); one and 8 pages both
        // flush page by page, so their difference per page is pageProtected plus one page's invalidation
        // (tlbFlushPage). Each protection cost is the mean of the call to read-only and the call back to read-write, as
        // the model charges both alike.
        double span = Ns("span_pages");
        double ro1 = Ns("mprotect_ro_1_ns"), ro8 = Ns("mprotect_ro_8_ns"), ro64 = Ns("mprotect_ro_64_ns"), ro512 = Ns("mprotect_ro_512_ns");
        double rw1 = Ns("mprotect_rw_1_ns"), rw8 = Ns("mprotect_rw_8_ns"), rw64 = Ns("mprotect_rw_64_ns"), rw512 = Ns("mprotect_rw_512_ns");
        double readOnlyPerPage = (ro512 - ro64) / (BigPages - SpanPages), writablePerPage = (rw512 - rw64) / (BigPages - SpanPages);
        double pageProtected = (readOnlyPerPage + writablePerPage) / 2;
        Set("pageProtected", pageProtected, Invariant($"mprotect of {BigPages} resident pages minus of {SpanPages} (both flush the whole address space), per page, the mean of read-only ({ro512:0} - {ro64:0} ns: {readOnlyPerPage:0.#} ns/page) and back to read-write ({rw512:0} - {rw64:0} ns: {writablePerPage:0.#} ns/page)"));
        double readOnlyInvlpg = (ro8 - ro1) / (PagedPages - 1), writableInvlpg = (rw8 - rw1) / (PagedPages - 1);
        double tlbFlushPage = (readOnlyInvlpg + writableInvlpg) / 2 - Math.Max(0, pageProtected);
        double unmap1 = Ns("munmap_1_ns"), unmap8 = Ns("munmap_8_ns"), unmap64 = Ns("munmap_64_ns"), unmap512 = Ns("munmap_512_ns");
        double pageUnmapped = (unmap512 - unmap64) / (BigPages - SpanPages);
        Set("tlbFlushPage", tlbFlushPage, Invariant($"mprotect of {PagedPages} resident pages minus of one (both flushed page by page), per page, less pageProtected: the mean of read-only ({ro8:0} - {ro1:0} ns: {readOnlyInvlpg:0.#} ns/page) and back to read-write ({rw8:0} - {rw1:0} ns: {writableInvlpg:0.#} ns/page); munmap of {PagedPages} minus of one, less pageUnmapped, gives {(unmap8 - unmap1) / (PagedPages - 1) - pageUnmapped:0} ns/page"));
        double flushNs = TlbFlushCycles / ClockGHz + Math.Max(0, tlbFlushPage);
        Set("cowCopy", copy - entry - flushNs, Invariant($"a write to a page shared with a live child after fork, {copy:0.#} ns/page, minus faultEntryExit and the one-page flush the model charges with it (tlbFlush + tlbFlushPage, {flushNs:0} ns)"));
        // A one-page mprotect read-only in the middle of a VMA splits it into three; a one-page VMA's whole mprotect
        // read-only does the same call, page and flush without a split. The difference is the VMA work alone: what
        // else a call costs (write-protecting a resident page, flushing it) cancels, however much a host charges it.
        double split = Ns("mprotect_split_ns"), merge = Ns("mprotect_merge_ns"), protOne = Ns("mprotect_one_ns");
        Set("vmaChange", split - protOne, Invariant($"mprotect of one resident page in the middle of a {span:0}-page VMA read-only (a split into three VMAs) {split:0} ns minus a one-page VMA's whole mprotect read-only (no split) {protOne:0} ns; the mprotect back, which merges the three, took {merge:0} ns (beyond syscallEntryExit, pageProtected and its one-page flush: {merge - syscall - Math.Max(0, pageProtected) - flushNs:0} ns)"));
        Default("tlbFlush", TlbFlushCycles, "a flush of the whole address space cannot be timed apart from the call that makes it, and each measured cost includes its own flushes");
        double unmapSpan = Ns("munmap_span_ns"), unmapOne = Ns("munmap_one_ns");
        Set("pageUnmapped", pageUnmapped, Invariant($"munmap of {BigPages} resident pages {unmap512:0} ns minus of {SpanPages} {unmap64:0} ns (both flush the whole address space), per page (munmap of {span:0} after madvise(DONTNEED) and refault: {unmapSpan:0} ns, of one page {unmapOne:0} ns; madvise(DONTNEED) of {span:0}: {Maybe("dontneed_span_ns") ?? 0:0} ns; its refault {Maybe("dontneed_refault_ns") ?? 0:0} ns/page)"));
        Set("syscallEntryExit", syscall, "getppid(2) through syscall(2), per call");
        double forkBig = Ns("fork_big_ns"), forkSmall = Ns("fork_small_ns"), tables = Ns("fork_big_pagetable_pages");
        Set("pageTablePageCopied", (forkBig - forkSmall) / tables, Invariant($"fork of a process with {tables * 512:0} resident anonymous pages {forkBig:0} ns minus with one {forkSmall:0} ns, per page-table page ({tables:0})"));
        if (Maybe("munmap_shootdown_ns") is double shared && Maybe("munmap_alone_ns") is double alone)
            Set("shootdownIpi", (shared - alone) / (Maybe("shootdown_targets") ?? 1), Invariant($"munmap of one resident page while a thread of the process spins on the other CPU {shared:0} ns minus with no other thread {alone:0} ns, per target CPU"));
        else Default("shootdownIpi", Defaults["shootdownIpi"], "it needs a second CPU the process may run on");

        // Reclaim.
        Default("reclaimScan", Defaults["reclaimScan"], "scanning the LRU lists takes memory pressure, which an unprivileged benchmark cannot make in isolation");
        if (Maybe("pageout_ns") is double pageout)
            Set("reclaimEvict", pageout, "MADV_PAGEOUT of clean file pages mapped once (isolate, unmap, drop from the page cache), per page dropped");
        else Default("reclaimEvict", Defaults["reclaimEvict"], "MADV_PAGEOUT dropped too few clean file pages");

    }

    /// <summary>zram when /proc/swaps lists one, hdd for a rotational disk, ssd otherwise (also when there is no swap).</summary>
    private static string SwapKind(out string source)
    {
        var devices = File.Exists("/proc/swaps")
            ? File.ReadLines("/proc/swaps").Skip(1).Select(l => l.Split((char[])[' ', '\t'], StringSplitOptions.RemoveEmptyEntries)).Where(w => w.Length > 0).Select(w => w[0]).ToList()
            : [];
        if (devices.Count == 0)
        {
            source = "swapDevice: not measured (this host has no swap device): the ssd preset";
            return "ssd";
        }
        string first = devices[0];
        string name = Path.GetFileName(first);
        if (name.StartsWith("zram", StringComparison.Ordinal))
        {
            source = $"swapDevice: {first} is zram: the zram preset (latency not measured)";
            return "zram";
        }
        string rotational = $"/sys/block/{name.TrimEnd("0123456789".ToCharArray())}/queue/rotational";
        bool hdd = File.Exists(rotational) && File.ReadAllText(rotational).Trim() == "1";
        source = $"swapDevice: {first} is {(hdd ? "a rotational disk: the hdd" : "not rotational (or not a block device): the ssd")} preset (latency not measured)";
        return hdd ? "hdd" : "ssd";
    }

    private static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
