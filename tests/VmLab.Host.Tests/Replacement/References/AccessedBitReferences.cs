namespace VmLab.Host.Tests.Replacement.References;

/// <summary>
/// NRU, WSClock and CAR over a stream of page touches with c frames, each written from its published definition and
/// independent of the plugins. They read reference (and dirty) bits the hardware sets, modelled as a one-entry TLB makes
/// them: every touch sets the page's Accessed bit (every access to another page than the last re-walks; a repeat hits
/// the TLB while the bit is still set), the touch that faults a page in included. A page's Dirty bit is set when it is
/// first faulted in (a new anonymous page in a writable mapping is mapped dirty, as Linux's do_anonymous_page does) and
/// by a write; it stays until the page is evicted (a page swapped back in is clean until written). Only the policy
/// clears Accessed bits.
/// </summary>
public static class AccessedBitReferences
{
    /// <summary>The shared bookkeeping: resident pages in a list the policy orders, the bits, the misses.</summary>
    private sealed class Frames
    {
        public readonly LinkedList<ulong> Order = new(); // First: the page under the hand
        public readonly Dictionary<ulong, LinkedListNode<ulong>> Node = [];
        public readonly HashSet<ulong> Accessed = [], Dirty = [];

        public void Rotate(ulong x)
        {
            var n = Node[x];
            Order.Remove(n);
            Order.AddLast(n);
        }

        public void Evict(ulong x)
        {
            Order.Remove(Node[x]);
            Node.Remove(x);
            Accessed.Remove(x);
            Dirty.Remove(x);
        }
    }

    private static long Run(IReadOnlyList<(ulong Page, bool Write)> touches, int c, Frames f, Func<ulong> choose, Action<ulong> arrived)
    {
        long misses = 0;
        var seen = new HashSet<ulong>();
        foreach (var (x, write) in touches)
        {
            if (!f.Node.ContainsKey(x))
            {
                misses++;
                if (f.Node.Count == c) f.Evict(choose());
                f.Node[x] = f.Order.AddLast(x);
                if (seen.Add(x)) f.Dirty.Add(x); // a new anonymous page is mapped dirty; a swapped-in one is clean until written
                arrived(x);
            }
            f.Accessed.Add(x);
            if (write) f.Dirty.Add(x);
        }
        return misses;
    }

    /// <summary>
    /// Not recently used as the enhanced second-chance CLOCK over the classes (referenced, modified): the hand looks once
    /// round for (0,0) changing nothing, then once round for (0,1) clearing the reference bits it passes, and repeats;
    /// a page the hand passes goes behind it.
    /// </summary>
    public static long Nru(IReadOnlyList<(ulong Page, bool Write)> touches, int c)
    {
        var f = new Frames();
        ulong Choose()
        {
            int n = f.Order.Count;
            for (int round = 0; round < 2; round++)
            {
                for (int i = 0; i < n; i++)
                {
                    ulong x = f.Order.First!.Value;
                    if (!f.Accessed.Contains(x) && !f.Dirty.Contains(x)) return x;
                    f.Rotate(x);
                }
                for (int i = 0; i < n; i++)
                {
                    ulong x = f.Order.First!.Value;
                    if (!f.Accessed.Remove(x)) return x;
                    f.Rotate(x);
                }
            }
            return f.Order.First!.Value;
        }
        return Run(touches, c, f, Choose, _ => { });
    }

    /// <summary>
    /// WSClock (Carr and Hennessy, SOSP 1981) with virtual time counted in page-ins: each page carries the time of its last
    /// observed use (its arrival, or a turn of the hand that found its reference bit set, which clears it). The hand goes
    /// once round: a referenced page is re-stamped; an unreferenced page older than τ is taken at once if clean, and if
    /// dirty the first such is remembered (its write scheduled); every page passed goes behind the hand. After the turn the
    /// first old dirty page is taken, else the page with the earliest stamp (the first such in the turn).
    /// </summary>
    public static long WsClock(IReadOnlyList<(ulong Page, bool Write)> touches, int c, long tau = 64)
    {
        var f = new Frames();
        var lastUse = new Dictionary<ulong, long>();
        long now = 0;
        ulong Choose()
        {
            ulong? oldDirty = null, earliest = null;
            int n = f.Order.Count;
            for (int i = 0; i < n; i++)
            {
                ulong x = f.Order.First!.Value;
                if (f.Accessed.Remove(x)) lastUse[x] = now;
                else if (now - lastUse[x] > tau)
                {
                    if (!f.Dirty.Contains(x)) return x;
                    oldDirty ??= x;
                }
                if (earliest is null || lastUse[x] < lastUse[earliest.Value]) earliest = x;
                f.Rotate(x);
            }
            return oldDirty ?? earliest!.Value;
        }
        return Run(touches, c, f, Choose, x => lastUse[x] = ++now);
    }

    /// <summary>
    /// CAR (Bansal and Modha, FAST 2004, Fig. 2): clocks T1 and T2, LRU ghost lists B1 and B2, target p real-valued. A
    /// miss with the cache full runs replace(): while |T1| ≥ max(1, p) (or T2 is empty) T1's hand: an unreferenced page
    /// is demoted to B1's MRU end, a referenced one has its bit cleared and goes to T2's tail; otherwise T2's hand: an
    /// unreferenced page goes to B2, a referenced one has its bit cleared and goes to T2's tail. Then a page in B1 grows
    /// p by max(1, |B2|/|B1|) up to c and enters T2's tail; one in B2 shrinks p by max(1, |B1|/|B2|) down to 0 and enters
    /// T2's tail; a new page enters T1's tail, after which B1 is trimmed from its LRU end while |T1| + |B1| &gt; c and B2
    /// while the four lists hold more than 2c. The reference bit is the Accessed bit, which the faulting touch sets: the
    /// first time a hand finds a page that arrived with it set (as every page does here), the page only goes back behind
    /// its own hand with the bit cleared (VmLab's rule, docs/replacement.md).
    /// </summary>
    public static long Car(IReadOnlyList<(ulong Page, bool Write)> touches, int c)
    {
        var t1 = new Frames();
        var t2 = new LinkedList<ulong>();
        var inT2 = new Dictionary<ulong, LinkedListNode<ulong>>();
        var b1 = new LinkedList<ulong>();
        var b2 = new LinkedList<ulong>();
        var fresh = new HashSet<ulong>();
        double p = 0;
        long misses = 0;

        bool Referenced(ulong x, out bool wasFresh)
        {
            wasFresh = fresh.Remove(x);
            return t1.Accessed.Remove(x);
        }

        void Replace()
        {
            for (;;)
            {
                if (t1.Order.Count > 0 && (t1.Order.Count >= Math.Max(1.0, p) || t2.Count == 0))
                {
                    ulong x = t1.Order.First!.Value;
                    bool r = Referenced(x, out bool wasFresh);
                    if (!r)
                    {
                        t1.Order.RemoveFirst();
                        t1.Node.Remove(x);
                        b1.AddLast(x);
                        return;
                    }
                    if (wasFresh) t1.Rotate(x);
                    else
                    {
                        t1.Order.RemoveFirst();
                        t1.Node.Remove(x);
                        inT2[x] = t2.AddLast(x);
                    }
                }
                else
                {
                    ulong x = t2.First!.Value;
                    if (!Referenced(x, out _))
                    {
                        t2.RemoveFirst();
                        inT2.Remove(x);
                        b2.AddLast(x);
                        return;
                    }
                    t2.RemoveFirst();
                    inT2[x] = t2.AddLast(x);
                }
            }
        }

        foreach (var (x, _) in touches)
        {
            if (t1.Node.ContainsKey(x) || inT2.ContainsKey(x))
            {
                t1.Accessed.Add(x);
                continue;
            }
            misses++;
            if (t1.Order.Count + t2.Count == c) Replace();
            if (b1.Contains(x))
            {
                p = Math.Min(c, p + Math.Max(1.0, (double)b2.Count / b1.Count));
                b1.Remove(x);
                inT2[x] = t2.AddLast(x);
            }
            else if (b2.Contains(x))
            {
                p = Math.Max(0, p - Math.Max(1.0, (double)b1.Count / b2.Count));
                b2.Remove(x);
                inT2[x] = t2.AddLast(x);
            }
            else
            {
                t1.Node[x] = t1.Order.AddLast(x);
                while (t1.Order.Count + b1.Count > c && b1.Count > 0) b1.RemoveFirst();
                while (t1.Order.Count + t2.Count + b1.Count + b2.Count > 2 * c && b2.Count > 0) b2.RemoveFirst();
            }
            fresh.Add(x);
            t1.Accessed.Add(x);
        }
        return misses;
    }
}

/// <summary>
/// Linux's active/inactive lists (mm/vmscan.c: shrink_active_list, shrink_folio_list with folio_check_references;
/// mm/workingset.c) over a stream of page touches with c frames, one pair of lists for all pages, written from the
/// kernel's rules and independent of the plugin. Accessed bits as in <see cref="AccessedBitReferences"/>.
/// <list type="bullet">
/// <item>A missed page joins the inactive list's young end with PG_referenced clear, unless its shadow (the
/// nonresident age at its eviction) gives a refault distance (age now - shadow) no larger than the active list: then
/// it joins the active list and the age advances.</item>
/// <item>To evict: while the inactive list is smaller than the active one (inactive_is_low, ratio 1) or empty, the
/// active list's oldest page has its Accessed bit cleared and moves to the inactive list's young end (anonymous pages
/// are deactivated even when referenced; PG_referenced is kept). The inactive list's oldest page: Accessed bit set and
/// PG_referenced set — activated (the age advances), PG_referenced stays set; Accessed bit set alone — PG_referenced
/// set, back to the inactive young end; neither — the victim, whose shadow records the age, which then advances.</item>
/// </list>
/// </summary>
public static class TwoListReference
{
    public static long Misses(IReadOnlyList<ulong> pages, int c, bool workingset = true)
    {
        var inactive = new LinkedList<ulong>(); // First: the oldest
        var active = new LinkedList<ulong>();
        var node = new Dictionary<ulong, LinkedListNode<ulong>>();
        var accessed = new HashSet<ulong>();
        var pgReferenced = new HashSet<ulong>();
        var shadows = new Dictionary<ulong, long>();
        long age = 0, misses = 0;

        void MoveTo(LinkedList<ulong> list, ulong x)
        {
            var n = node[x];
            n.List!.Remove(n);
            list.AddLast(n);
        }

        ulong Victim()
        {
            for (;;)
            {
                while ((inactive.Count < active.Count || inactive.Count == 0) && active.Count > 0)
                {
                    ulong old = active.First!.Value;
                    accessed.Remove(old);
                    MoveTo(inactive, old);
                }
                ulong x = inactive.First!.Value;
                bool ptes = accessed.Remove(x);
                bool page = pgReferenced.Remove(x);
                if (!ptes) return x;
                pgReferenced.Add(x);
                if (page)
                {
                    MoveTo(active, x);
                    age++;
                }
                else MoveTo(inactive, x);
            }
        }

        foreach (var x in pages)
        {
            if (node.ContainsKey(x))
            {
                accessed.Add(x);
                continue;
            }
            misses++;
            if (node.Count == c)
            {
                ulong v = Victim();
                var n = node[v];
                n.List!.Remove(n);
                node.Remove(v);
                accessed.Remove(v);
                pgReferenced.Remove(v);
                if (workingset) shadows[v] = age++;
            }
            if (workingset && shadows.Remove(x, out long eviction) && age - eviction <= active.Count)
            {
                age++;
                node[x] = active.AddLast(x);
            }
            else node[x] = inactive.AddLast(x);
            accessed.Add(x);
        }
        return misses;
    }
}
