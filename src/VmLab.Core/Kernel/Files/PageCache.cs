using VmLab.Abstractions;

namespace VmLab.Core.Kernel;

/// <summary>
/// A simulated file: a size and the byte every position holds. A shmem file backs shared anonymous memory (no I/O).
/// write(2) past the end grows it (the bytes it wrote are not kept: every position reads as the fill).
/// </summary>
public sealed record SimFile(string Name, ulong Size, byte Fill, bool Shmem = false)
{
    public ulong Size { get; internal set; } = Size;
}

/// <summary>
/// Files and the page cache: the simulated files, the cached page of each (file, index) with its reverse lookup, and
/// what reclaim wrote back to a file. A cached page holds one reference of its own on its frame. File pages (not shmem)
/// are reclaim candidates, keyed by <see cref="Reclaim.FileKey"/>.
/// </summary>
public sealed class PageCache
{
    private const ulong PageSize = VirtualAddress.PageSize;

    private readonly KernelModel _k;
    private readonly Dictionary<string, SimFile> _files = new(StringComparer.Ordinal);
    private readonly Dictionary<(string File, ulong Index), ulong> _pages = [];
    private readonly Dictionary<ulong, (string File, ulong Index)> _owner = [];
    /// <summary>File pages written back by reclaim: what the file holds there now.</summary>
    private readonly Dictionary<(string File, ulong Index), ulong[]?> _writtenBack = [];
    private readonly Counter _dropped, _writebacks;

    internal PageCache(KernelModel kernel)
    {
        _k = kernel;
        _dropped = kernel.Metrics.Counter(MetricNames.PageCacheDropped);
        _writebacks = kernel.Metrics.Counter(MetricNames.PageCacheWritebacks);
    }

    public void CreateFile(string name, ulong size, byte fill) => _files[name] = new SimFile(name, size, fill);

    public SimFile? Find(string name) => _files.GetValueOrDefault(name);

    /// <summary>A new shmem object of <paramref name="size"/> bytes (shared anonymous memory).</summary>
    internal SimFile CreateShmem(ulong size)
    {
        var f = new SimFile($"shmem:{_files.Count}", size, 0, Shmem: true);
        _files[f.Name] = f;
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

    /// <summary>The frames the page cache holds a reference on (read by the invariant checker).</summary>
    public IEnumerable<ulong> Frames => _pages.Values;

    /// <summary>
    /// The page-cache frame of page <paramref name="index"/> of a file, read in from the file (a major fault, unless
    /// shmem) into a frame allocated on <paramref name="cpu"/> when not cached; the fault under way keeps it from reclaim.
    /// </summary>
    public bool TryGetPage(string file, ulong index, int cpu, out ulong pfn, out bool readFromDisk)
    {
        readFromDisk = false;
        if (_pages.TryGetValue((file, index), out pfn))
        {
            _k.Reclaim.PinFile(pfn);
            return true;
        }
        var f = _files[file];
        if (!_k.Reclaim.AllocateUserFrame(cpu, Reclaim.FileKey(file, index), out pfn)) return false;
        readFromDisk = !f.Shmem;
        ulong start = index * PageSize;
        ulong valid = Math.Min(PageSize, f.Size - start);
        if (_writtenBack.TryGetValue((file, index), out var data)) SwapDevice.Restore(data, _k.Memory, pfn);
        else if (f.Fill != 0)
            for (ulong i = 0; i < valid; i++) _k.Memory.WriteByte((pfn << 12) + i, f.Fill);
        _pages[(file, index)] = pfn; // the page cache holds the allocation reference
        _owner[pfn] = (file, index);
        _k.Reclaim.PinFile(pfn);
        if (!f.Shmem) _k.Reclaim.AddCandidate(pfn, Reclaim.FileKey(file, index));
        return true;
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
            _writtenBack[owner] = SwapDevice.Snapshot(_k.Memory, pfn);
        }
        else _dropped.Increment();
        _pages.Remove(owner);
        _owner.Remove(pfn);
    }
}
