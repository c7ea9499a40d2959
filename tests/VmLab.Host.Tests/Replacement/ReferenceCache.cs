using System.Globalization;
using System.IO.Compression;

namespace VmLab.Host.Tests.Replacement;

/// <summary>
/// The textbook model the machine is compared with: a fully-associative cache of page numbers with a fixed number of
/// entries, counting misses under FIFO, LRU or Belady's OPT. Written from the definitions, independently of the kernel.
/// </summary>
public static class ReferenceCache
{
    public static long Misses(IReadOnlyList<ulong> pages, int entries, string policy) => policy switch
    {
        "fifo" => Fifo(pages, entries),
        "lru" => Lru(pages, entries),
        "opt" => Opt(pages, entries),
        _ => throw new ArgumentException(policy),
    };

    private static long Fifo(IReadOnlyList<ulong> pages, int entries)
    {
        var resident = new HashSet<ulong>();
        var order = new Queue<ulong>();
        long misses = 0;
        foreach (var p in pages)
        {
            if (resident.Contains(p)) continue;
            misses++;
            if (resident.Count == entries) resident.Remove(order.Dequeue());
            resident.Add(p);
            order.Enqueue(p);
        }
        return misses;
    }

    private static long Lru(IReadOnlyList<ulong> pages, int entries)
    {
        var lastUse = new Dictionary<ulong, long>();
        long misses = 0;
        for (int i = 0; i < pages.Count; i++)
        {
            var p = pages[i];
            if (!lastUse.ContainsKey(p))
            {
                misses++;
                if (lastUse.Count == entries)
                {
                    ulong victim = 0;
                    long oldest = long.MaxValue;
                    foreach (var (q, t) in lastUse)
                        if (t < oldest) (victim, oldest) = (q, t);
                    lastUse.Remove(victim);
                }
            }
            lastUse[p] = i;
        }
        return misses;
    }

    private static long Opt(IReadOnlyList<ulong> pages, int entries)
    {
        // next[i]: where page[i] is used next (int.MaxValue: never).
        var next = new int[pages.Count];
        var seen = new Dictionary<ulong, int>();
        for (int i = pages.Count - 1; i >= 0; i--)
        {
            next[i] = seen.TryGetValue(pages[i], out int n) ? n : int.MaxValue;
            seen[pages[i]] = i;
        }
        var nextUse = new Dictionary<ulong, int>();
        long misses = 0;
        for (int i = 0; i < pages.Count; i++)
        {
            var p = pages[i];
            if (!nextUse.ContainsKey(p))
            {
                misses++;
                if (nextUse.Count == entries)
                {
                    ulong victim = 0;
                    int furthest = -1;
                    foreach (var (q, t) in nextUse)
                        if (t > furthest) (victim, furthest) = (q, t);
                    nextUse.Remove(victim);
                }
            }
            nextUse[p] = next[i];
        }
        return misses;
    }

    /// <summary>
    /// Page numbers a Lackey trace touches, in order: one per page an access touches (an access straddling a page
    /// boundary touches two), a modify (M) counts as a read then a write. Parsed here from the text, on its own.
    /// </summary>
    public static List<ulong> PagesOfLackeyTrace(string path)
    {
        var pages = new List<ulong>();
        foreach (var (page, _) in TouchesOfLackeyTrace(path)) pages.Add(page);
        return pages;
    }

    /// <summary>
    /// As <see cref="PagesOfLackeyTrace"/>, with whether each touch writes: a store (S) writes, a load (L) or an
    /// instruction fetch (I) reads, a modify (M) reads and then writes.
    /// </summary>
    public static List<(ulong Page, bool Write)> TouchesOfLackeyTrace(string path)
    {
        var pages = new List<(ulong Page, bool Write)>();
        using var file = File.OpenRead(path);
        using Stream stream = path.EndsWith(".gz", StringComparison.Ordinal) ? new GZipStream(file, CompressionMode.Decompress) : file;
        using var reader = new StreamReader(stream);
        while (reader.ReadLine() is { } line)
        {
            var t = line.Trim();
            if (t.Length == 0 || t.StartsWith("==", StringComparison.Ordinal)) continue;
            char kind = t[0];
            var fields = t[1..].Trim().Split(',');
            ulong address = ulong.Parse(fields[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            ulong size = ulong.Parse(fields[1], CultureInfo.InvariantCulture);
            int times = kind == 'M' ? 2 : 1;
            for (int k = 0; k < times; k++)
                for (ulong page = address / 4096; page <= (address + Math.Max(size, 1) - 1) / 4096; page++)
                    pages.Add((page, kind == 'S' || (kind == 'M' && k == 1)));
        }
        return pages;
    }
}
