using VmLab.Abstractions;
using VmLab.Abstractions.Workloads;

namespace VmLab.Core.Kernel;

/// <summary>
/// A simulated file (an inode): its size and what it holds on its backing store, sparsely. A page never written back
/// holds <see cref="Fill"/> below <see cref="FillEnd"/> (the size it was created with, lowered by every truncation) and
/// zero above it; a page written back holds the bytes it was written with. A shmem file (shared anonymous memory, a
/// memfd) has no backing store: its pages live in the page cache only. <see cref="Id"/> names the inode for the page
/// cache and stays unique when the name is unlinked and created again.
/// </summary>
public sealed class SimFile
{
    internal SimFile(string id, string? path, ulong size, byte fill, bool shmem)
    {
        Id = id;
        Path = path;
        Size = size;
        Fill = fill;
        FillEnd = fill == 0 ? 0 : size;
        Shmem = shmem;
    }

    /// <summary>The inode's name in the page cache (a VMA's file name).</summary>
    public string Id { get; }

    /// <summary>The name it is found by (null once unlinked, or for shmem).</summary>
    public string? Path { get; internal set; }

    /// <summary>i_size: one past the last byte.</summary>
    public ulong Size { get; internal set; }

    public byte Fill { get; }

    /// <summary>Bytes below this that were never written back hold <see cref="Fill"/>.</summary>
    public ulong FillEnd { get; internal set; }

    public bool Shmem { get; }

    /// <summary>Pages written back: what the backing store holds there (null: a page of zeros).</summary>
    internal Dictionary<ulong, ulong[]?> Disk { get; } = [];

    public override string ToString() => Path ?? Id;
}

/// <summary>
/// Files and the page cache (mm/filemap.c): every byte of a file goes through it — a mapping's fault, read(2) and
/// write(2) alike — so the two views of a file are coherent both ways. The cached page of each (file, index), with its
/// reverse lookup; a cached page holds one reference of its own on its frame. A page is read from the file's backing
/// store when it is first needed (a major fault when a fault needed it, as <c>filemap_fault</c> counts it; nothing is
/// counted when read(2) or write(2) did). A page is dirty when a PTE says so or write(2) wrote it
/// (<see cref="Reclaim.IsDirty"/>); it goes back to the store when reclaim takes it, and on fsync or msync(MS_SYNC),
/// which also write-protect its shared mappings so the next store through them is a write fault again (page_mkclean).
/// File pages (not shmem) are reclaim candidates, keyed by <see cref="Reclaim.FileKey"/>.
/// </summary>
public sealed class PageCache
{
    private const ulong PageSize = VirtualAddress.PageSize;

    private readonly KernelModel _k;
    private readonly Dictionary<string, SimFile> _files = new(StringComparer.Ordinal);
    private readonly Dictionary<string, SimFile> _paths = new(StringComparer.Ordinal);
    private readonly Dictionary<(string File, ulong Index), ulong> _pages = [];
    private readonly Dictionary<ulong, (string File, ulong Index)> _owner = [];
    private readonly Counter _dropped, _writebacks, _faultsFile;
    private int _anonymous;

    internal PageCache(KernelModel kernel)
    {
        _k = kernel;
        _dropped = kernel.Metrics.Counter(MetricNames.PageCacheDropped);
        _writebacks = kernel.Metrics.Counter(MetricNames.PageCacheWritebacks);
        _faultsFile = kernel.Metrics.Counter(MetricNames.FaultsFile);
    }

    /// <summary>
    /// Creates the file <paramref name="name"/> of <paramref name="size"/> bytes, each <paramref name="fill"/>. A file of
    /// that name that exists is replaced, as a new file renamed over it would be: whoever has it open or mapped keeps the old one.
    /// </summary>
    public void CreateFile(string name, ulong size, byte fill)
    {
        string id = _files.ContainsKey(name) ? $"{name};{_files.Count}" : name;
        var f = new SimFile(id, name, size, fill, shmem: false);
        _files[id] = f;
        if (_paths.TryGetValue(name, out var old)) old.Path = null;
        _paths[name] = f;
    }

    /// <summary>The file a name refers to, or null.</summary>
    public SimFile? Find(string name) => _paths.GetValueOrDefault(name);

    /// <summary>The file an inode name (a VMA's file) refers to, linked or not.</summary>
    public SimFile Inode(string id) => _files[id];

    /// <summary>unlink(2): the name goes; the file lives on for whoever has it open or mapped. 0 or -ENOENT.</summary>
    public long Unlink(string name)
    {
        if (!_paths.Remove(name, out var f)) return -Errno.ENOENT;
        f.Path = null;
        return 0;
    }

    /// <summary>A new shmem object of <paramref name="size"/> bytes (shared anonymous memory).</summary>
    internal SimFile CreateShmem(ulong size) => NewShmem($"shmem:{_anonymous++}", size);

    /// <summary>memfd_create(2): an empty shmem file with no name in any directory.</summary>
    internal SimFile CreateMemfd(string name) => NewShmem($"memfd:{name}:{_anonymous++}", 0);

    private SimFile NewShmem(string id, ulong size)
    {
        var f = new SimFile(id, null, size, 0, shmem: true);
        _files[id] = f;
        return f;
    }

    public bool IsShmem(string? file) => file is not null && _files.TryGetValue(file, out var f) && f.Shmem;

    /// <summary>The frame is a page-cache page.</summary>
    public bool IsCached(ulong pfn) => _owner.ContainsKey(pfn);

    /// <summary>The frame is a page of a shmem object (never a reclaim candidate).</summary>
    public bool IsShmemPage(ulong pfn) => _owner.TryGetValue(pfn, out var o) && IsShmem(o.File);

    /// <summary>The file and page index of a cached frame.</summary>
    public bool TryGetOwner(ulong pfn, out (string File, ulong Index) owner) => _owner.TryGetValue(pfn, out owner);

    /// <summary>Page <paramref name="index"/> of the file is in the page cache (what mincore reports for a page not mapped).</summary>
    public bool IsCachedAt(string file, ulong index) => _pages.ContainsKey((file, index));

    /// <summary>The cached frame of page <paramref name="index"/>, when there is one (no reference taken).</summary>
    public bool TryGetCached(string file, ulong index, out ulong pfn) => _pages.TryGetValue((file, index), out pfn);

    /// <summary>The frames the page cache holds a reference on (read by the invariant checker).</summary>
    public IEnumerable<ulong> Frames => _pages.Values;

    /// <summary>
    /// The page-cache frame of page <paramref name="index"/> of a file, read in from the file (a major fault, unless
    /// shmem) into a frame allocated on <paramref name="cpu"/> when not cached; the fault under way keeps it from reclaim.
    /// </summary>
    public bool TryGetPage(string file, ulong index, int cpu, out ulong pfn, out bool readFromDisk, ReadHint hint = ReadHint.Normal)
    {
        var f = _files[file];
        if (!Lookup(f, index, cpu, out pfn, out readFromDisk)) return false;
        _k.Reclaim.PinFile(pfn);
        if (readFromDisk) ReadAround(f, index, cpu, hint);
        return true;
    }

    /// <summary>
    /// mmap read-around (<c>do_sync_mmap_readahead</c>): the fault that had to read page <paramref name="index"/> also
    /// reads the window of ra_pages starting ra_pages/2 before it (at 0 at the least), in index order, skipping pages
    /// already cached and those past the end of the file. Nothing more is counted: the fault is one major fault. The
    /// model reads no further (no asynchronous readahead when a later fault reaches the window's marker page) and
    /// keeps no mmap_miss count (Linux stops reading around a file after 100 misses more than hits). The faulting VMA's
    /// madvise hint changes it as <c>do_sync_mmap_readahead</c> does: MADV_RANDOM (VM_RAND_READ) reads no more than the
    /// page; MADV_SEQUENTIAL (VM_SEQ_READ) reads ra_pages from the page on (<c>page_cache_sync_ra(ractl, ra_pages)</c>).
    /// </summary>
    private void ReadAround(SimFile f, ulong index, int cpu, ReadHint hint)
    {
        ulong ra = (ulong)_k.Options.PageCache.ReadAheadPages;
        if (ra == 0 || f.Shmem || hint == ReadHint.Random) return;
        ulong start = hint == ReadHint.Sequential ? index : index > ra / 2 ? index - ra / 2 : 0;
        ulong end = Math.Min(start + ra, (f.Size + PageSize - 1) / PageSize);
        for (ulong i = start; i < end; i++)
        {
            if (i == index || _pages.ContainsKey((f.Id, i))) continue;
            if (!Lookup(f, i, cpu, out _, out _)) return; // no frame: the window ends here
        }
    }

    /// <summary>
    /// The fault-around handler's work (<see cref="FaultAroundHandler"/>): maps the cached pages around the fault
    /// (<see cref="MapAround"/>); a minor fault when the faulting page was among them. A file page not cached (and not
    /// past the end) is read in with its read-around first and the window mapped after, one major fault, as Linux's
    /// retry after the I/O maps it. Otherwise declined: the file handler raises SIGBUS past the end or allocates a shmem page.
    /// </summary>
    internal Abstractions.Faults.FaultResult FaultAround(in Abstractions.Faults.PageFault fault, int cpu, ReadHint hint)
    {
        var vma = fault.Vma;
        var f = _files[vma.FileName!];
        ulong index = (fault.PageAddress - vma.Start + vma.FileOffset) / PageSize;
        bool major = false;
        if (!_pages.ContainsKey((f.Id, index)))
        {
            if (f.Shmem || index >= (f.Size + PageSize - 1) / PageSize) return Abstractions.Faults.FaultResult.Declined;
            if (!TryGetPage(f.Id, index, cpu, out _, out major, hint)) return Abstractions.Faults.FaultResult.OutOfMemory;
        }
        if (!MapAround(fault, cpu)) return _pages.ContainsKey((f.Id, index)) ? Abstractions.Faults.FaultResult.OutOfMemory : Abstractions.Faults.FaultResult.Declined;
        _faultsFile.Increment();
        return (major ? Abstractions.Faults.FaultResult.Major : Abstractions.Faults.FaultResult.Minor).As(Abstractions.Faults.FaultResolutions.FilePage);
    }

    /// <summary>
    /// Fault-around (<c>do_fault_around</c>, <c>filemap_map_pages</c>): maps, read-only as the VMA's page protection has
    /// it, every page already in the page cache within the window of fault_around_pages PTEs aligned around the fault,
    /// clamped to the VMA, to its page table (512 entries) and to the end of the file; PTEs already in use are left.
    /// True when the faulting page itself was mapped (the fault is done).
    /// </summary>
    internal bool MapAround(in Abstractions.Faults.PageFault fault, int cpu)
    {
        var vma = fault.Vma;
        var f = _files[vma.FileName!];
        var p = (Process)fault.Process;
        ulong nr = (ulong)_k.Options.PageCache.FaultAroundPages;
        ulong pteOff = (fault.PageAddress >> 12) & 511;
        ulong vmaOff = (fault.PageAddress - vma.Start) / PageSize;
        ulong vmaPages = (vma.End - vma.Start) / PageSize;
        ulong from = Math.Max(pteOff & ~(nr - 1), pteOff - Math.Min(pteOff, vmaOff));
        ulong to = Math.Min(Math.Min(from + nr, 512UL), pteOff + vmaPages - vmaOff) - 1;
        ulong faultIndex = (fault.PageAddress - vma.Start + vma.FileOffset) / PageSize;
        ulong fileEnd = (f.Size + PageSize - 1) / PageSize;
        bool mapped = false;
        for (ulong pte = from; pte <= to; pte++)
        {
            ulong index = faultIndex + pte - pteOff;
            if (index >= fileEnd) break;
            if (!_pages.TryGetValue((f.Id, index), out ulong pfn)) continue;
            ulong address = fault.PageAddress + (pte - pteOff) * PageSize;
            if (!_k.PageTable.Read(p.PageTableRoot, address).IsEmpty) continue;
            _k.Frames.Get(pfn);
            if (!_k.AddressSpaces.MapPage(p, address, pfn, _k.AddressSpaces.FlagsFor(vma, writable: false), cpu)) return false;
            if (address == fault.PageAddress) mapped = true;
        }
        return mapped;
    }

    /// <summary>
    /// Synchronous readahead on read(2) (<c>filemap_get_pages</c> → <c>page_cache_sync_readahead</c>), for a read of
    /// pages [<paramref name="index"/>, <paramref name="last"/>] whose first page is not cached. A read at page 0, or
    /// a sequential one (<paramref name="index"/> at most one page past the previous read's end, <c>prev_pos</c>), starts
    /// a readahead window at <paramref name="index"/> of <c>get_init_ra_size</c>(pages read, ra_pages) pages: the
    /// request rounded up to a power of two, times 4 when that is at most ra_pages/32, times 2 when at most ra_pages/4,
    /// else ra_pages (a 1-page read at page 0 with read_ahead_kb 128 reads 4 pages). Any other miss (a random read)
    /// reads only the pages asked for, as does a read-ahead window of 0. Pages cached and past the end are skipped; no
    /// fault is counted. Not modelled: the asynchronous readahead a later read of the window's marker page starts, the
    /// window a sequential miss after an earlier window grows to (<c>get_next_ra_size</c>; the model starts a new
    /// initial window), and the page-cache history a random miss looks back on (<c>page_cache_prev_miss</c>).
    /// </summary>
    internal void ReadAheadForRead(OpenFile of, SimFile f, ulong index, ulong last, int cpu)
    {
        ulong ra = (ulong)_k.Options.PageCache.ReadAheadPages;
        if (ra == 0 || f.Shmem || _pages.ContainsKey((f.Id, index))) return;
        ulong prevIndex = of.ReadAheadPrevPos == ulong.MaxValue ? ulong.MaxValue : of.ReadAheadPrevPos / PageSize;
        if (index != 0 && (prevIndex == ulong.MaxValue || index - prevIndex > 1)) return;
        ulong req = last - index + 1;
        ulong end = Math.Min(index + Math.Max(InitialWindow(req, ra), req), (f.Size + PageSize - 1) / PageSize);
        for (ulong i = index; i < end; i++)
        {
            if (_pages.ContainsKey((f.Id, i))) continue;
            if (!Lookup(f, i, cpu, out _, out _)) return; // no frame: the window ends here
        }
    }

    /// <summary><c>get_init_ra_size</c> (mm/readahead.c): the first readahead window for a read of <paramref name="req"/> pages.</summary>
    internal static ulong InitialWindow(ulong req, ulong max)
    {
        ulong size = System.Numerics.BitOperations.RoundUpToPowerOf2(req);
        if (size <= max / 32) return size * 4;
        if (size <= max / 4) return size * 2;
        return max;
    }

    /// <summary>
    /// The page of <paramref name="f"/> at <paramref name="index"/> for read(2) or write(2), brought into the cache when
    /// it is not there (filemap_read, write_begin); <paramref name="readFromDisk"/> when it was read from the backing
    /// store. The caller holds one extra reference on the frame while it copies (reclaim passes over it) and puts it after.
    /// </summary>
    internal bool TryGetPageForIo(SimFile f, ulong index, int cpu, out ulong pfn, out bool readFromDisk)
    {
        if (!Lookup(f, index, cpu, out pfn, out readFromDisk)) return false;
        _k.Frames.Get(pfn);
        return true;
    }

    private bool Lookup(SimFile f, ulong index, int cpu, out ulong pfn, out bool readFromDisk)
    {
        readFromDisk = false;
        if (_pages.TryGetValue((f.Id, index), out pfn)) return true;
        if (!_k.Reclaim.AllocateUserFrame(cpu, Reclaim.FileKey(f.Id, index), out pfn)) return false;
        readFromDisk = !f.Shmem;
        ReadIn(f, index, pfn);
        _pages[(f.Id, index)] = pfn; // the page cache holds the allocation reference
        _owner[pfn] = (f.Id, index);
        if (!f.Shmem) _k.Reclaim.AddCandidate(pfn, Reclaim.FileKey(f.Id, index));
        return true;
    }

    /// <summary>Fills a zeroed frame with page <paramref name="index"/> as the backing store holds it; bytes past the end read as zero.</summary>
    private void ReadIn(SimFile f, ulong index, ulong pfn)
    {
        ulong start = index * PageSize;
        if (start >= f.Size) return;
        ulong valid = Math.Min(PageSize, f.Size - start);
        ulong based = pfn << 12;
        if (f.Disk.TryGetValue(index, out var data))
        {
            SwapDevice.Restore(data, _k.Memory, pfn);
            for (ulong i = valid; i < PageSize; i++) _k.Memory.WriteByte(based + i, 0);
            return;
        }
        if (f.Fill == 0 || start >= f.FillEnd) return;
        ulong filled = Math.Min(valid, f.FillEnd - start);
        for (ulong i = 0; i < filled; i++) _k.Memory.WriteByte(based + i, f.Fill);
    }

    /// <summary>
    /// Reclaim takes a file page out of the cache: a dirty page is written back to its file first (the file keeps its
    /// contents), a clean one is dropped. The caller unmaps it and frees the frame.
    /// </summary>
    internal void Remove(ulong pfn, bool dirty)
    {
        var owner = _owner[pfn];
        if (dirty)
        {
            _writebacks.Increment();
            StorePage(_files[owner.File], owner.Index, pfn);
        }
        else _dropped.Increment();
        _pages.Remove(owner);
        _owner.Remove(pfn);
    }

    private void StorePage(SimFile f, ulong index, ulong pfn)
    {
        if (f.Shmem) return;
        f.Disk[index] = SwapDevice.Snapshot(_k.Memory, pfn);
    }

    /// <summary>
    /// Writes back the dirty cached pages of <paramref name="f"/> with index in [<paramref name="first"/>,
    /// <paramref name="last"/>] (<c>filemap_write_and_wait_range</c>): each goes to the backing store, stops being
    /// dirty, and its mappings are cleaned and write-protected (<c>folio_mkclean</c>) so a later store through a shared
    /// mapping is a write fault that dirties it again. shmem has no backing store: nothing to do. Returns the pages written.
    /// </summary>
    internal int WriteBack(SimFile f, ulong first, ulong last, int cpu)
    {
        if (f.Shmem) return 0;
        int written = 0;
        ulong end = Math.Min(last, (f.Size + PageSize - 1) / PageSize);
        foreach (var ((file, index), pfn) in _pages.ToArray())
        {
            if (file != f.Id || index < first || index > end || !_k.Reclaim.IsDirty(pfn)) continue;
            StorePage(f, index, pfn);
            _k.Reclaim.CleanMappings(pfn, cpu);
            _writebacks.Increment();
            written++;
        }
        return written;
    }

    /// <summary>
    /// The file's size becomes <paramref name="size"/> (ftruncate, or a write past the end). Shrinking it
    /// (<c>truncate_pagecache</c>) unmaps every page past the new end from every mapping of the file, private copies
    /// included (<c>unmap_mapping_range(..., even_cows=1)</c>: the next access there is SIGBUS), drops those pages from
    /// the cache and the store, and zeroes the tail of the page the new end falls in. Growing it reads zeros past the old end.
    /// </summary>
    internal void Resize(SimFile f, ulong size, int cpu)
    {
        if (size < f.Size)
        {
            ulong keep = (size + PageSize - 1) / PageSize;
            UnmapFrom(f, keep, cpu);
            foreach (var ((file, index), pfn) in _pages.ToArray())
            {
                if (file != f.Id || index < keep) continue;
                _pages.Remove((file, index));
                _owner.Remove(pfn);
                _k.Reclaim.Forget(pfn);
                _k.Frames.Put(pfn);
            }
            foreach (ulong index in f.Disk.Keys.ToArray())
                if (index >= keep) f.Disk.Remove(index);
            ulong tail = size & (PageSize - 1);
            if (tail != 0)
            {
                ulong index = size / PageSize;
                if (_pages.TryGetValue((f.Id, index), out ulong pfn))
                    for (ulong i = tail; i < PageSize; i++) _k.Memory.WriteByte((pfn << 12) + i, 0);
                if (f.Disk.TryGetValue(index, out var data) && data is not null)
                    for (ulong i = tail; i < PageSize; i++) data[i / 8] &= ~(0xffUL << (int)(8 * (i % 8)));
            }
            f.FillEnd = Math.Min(f.FillEnd, size);
        }
        f.Size = size;
    }

    /// <summary>Zaps every PTE of every address space that maps page <paramref name="fromIndex"/> or later of the file.</summary>
    private void UnmapFrom(SimFile f, ulong fromIndex, int cpu)
    {
        var seen = new HashSet<AddressSpace>();
        var leaves = new List<(ulong Address, PageMapping Leaf)>();
        foreach (var p in _k.Processes.All)
        {
            if (!p.Alive || p.IsKernelThread || !seen.Add(p.Mm)) continue;
            foreach (var vma in p.Mm.Vmas.ToArray())
            {
                if (vma.FileName != f.Id) continue;
                ulong first = vma.FileOffset / PageSize, pages = (vma.End - vma.Start) / PageSize;
                if (first + pages <= fromIndex) continue;
                ulong start = fromIndex > first ? vma.Start + (fromIndex - first) * PageSize : vma.Start;
                leaves.Clear();
                _k.PageTable.CollectLeaves(p.PageTableRoot, start, vma.End, leaves);
                foreach (var (address, _) in leaves) _k.AddressSpaces.UnmapPage(p, address, flush: true, cpu);
            }
        }
    }
}
