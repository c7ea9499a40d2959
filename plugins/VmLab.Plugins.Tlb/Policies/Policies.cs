using VmLab.Abstractions;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace VmLab.Plugins.Tlb.Policies;

/// <summary>Least recently used: each way carries the time of its last use; the oldest goes.</summary>
public struct LruPolicy : ITlbReplacementPolicy<LruPolicy>
{
    /// <summary>
    /// A hit stamps the way with the array's next time, so right after a hit that way holds the array's latest stamp;
    /// a repeated hit gives it a later one, still the latest. Stamps are unique and <see cref="Victim"/> only compares
    /// them, so every later choice is the same: the repeat changes nothing that matters.
    /// </summary>
    public static bool RepeatedHitChangesNothing => true;

    /// <summary>A hit stamps the way with the array's next time, whatever it held: after any hits, the ways are ordered by their last hit.</summary>
    public static bool HitOverwritesEarlierHits => true;

    private ulong[] _stamps;
    private int _ways;
    private ulong _clock;

    public static LruPolicy Create(int sets, int ways, ulong seed) => new() { _stamps = new ulong[sets * ways], _ways = ways };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void OnHit(int set, int way) => _stamps[set * _ways + way] = ++_clock;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void OnFill(int set, int way) => _stamps[set * _ways + way] = ++_clock;

    public int Victim(int set) => Oldest(_stamps.AsSpan(set * _ways, _ways));

    internal static int Oldest(ReadOnlySpan<ulong> stamps)
    {
        int best = 0;
        for (int w = 1; w < stamps.Length; w++)
            if (stamps[w] < stamps[best]) best = w;
        return best;
    }
}

/// <summary>First in, first out: each way carries the time it was filled; hits change nothing.</summary>
public struct FifoPolicy : ITlbReplacementPolicy<FifoPolicy>
{
    /// <summary>Hits change nothing.</summary>
    public static bool RepeatedHitChangesNothing => true;

    /// <summary>Hits change nothing.</summary>
    public static bool HitOverwritesEarlierHits => true;

    private ulong[] _stamps;
    private int _ways;
    private ulong _clock;

    public static FifoPolicy Create(int sets, int ways, ulong seed) => new() { _stamps = new ulong[sets * ways], _ways = ways };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void OnHit(int set, int way) { }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void OnFill(int set, int way) => _stamps[set * _ways + way] = ++_clock;

    public int Victim(int set) => LruPolicy.Oldest(_stamps.AsSpan(set * _ways, _ways));
}

/// <summary>Random: a uniformly chosen way (xoshiro256** seeded from the component seed through SplitMix64).</summary>
public struct RandomPolicy : ITlbReplacementPolicy<RandomPolicy>
{
    /// <summary>Hits change nothing; the generator is drawn only for a victim.</summary>
    public static bool RepeatedHitChangesNothing => true;

    /// <summary>Hits change nothing.</summary>
    public static bool HitOverwritesEarlierHits => true;

    private Xoshiro256 _rng;
    private int _ways;

    public static RandomPolicy Create(int sets, int ways, ulong seed) => new() { _rng = new Xoshiro256(seed), _ways = ways };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void OnHit(int set, int way) { }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void OnFill(int set, int way) { }

    public int Victim(int set) => _rng.Below(_ways);
}

/// <summary>
/// Tree pseudo-LRU: a binary tree of <c>ways − 1</c> bits per set; each bit points to the half used less recently.
/// A use flips the bits on its path to point away from it; the victim is found by following the bits.
/// Ways must be a power of two (at most 64).
/// </summary>
public struct TreePlruPolicy : ITlbReplacementPolicy<TreePlruPolicy>
{
    /// <summary>A use sets the bits on its path to values that depend only on the way: a second use sets the same values.</summary>
    public static bool RepeatedHitChangesNothing => true;

    /// <summary>A use sets the bits on its path to values that depend only on the way: the last use of each bit's ways decides it.</summary>
    public static bool HitOverwritesEarlierHits => true;

    private ulong[] _bits;
    private int _levels;

    public static TreePlruPolicy Create(int sets, int ways, ulong seed)
    {
        if (ways > 64 || !BitOperations.IsPow2(ways))
            throw new ArgumentException($"tree-PLRU needs a power-of-two number of ways up to 64, got {ways}");
        return new TreePlruPolicy { _bits = new ulong[sets], _levels = BitOperations.Log2((uint)ways) };
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void OnHit(int set, int way) => _bits[set] = Touch(_bits[set], way, _levels);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void OnFill(int set, int way) => _bits[set] = Touch(_bits[set], way, _levels);

    public int Victim(int set) => Follow(_bits[set], _levels);

    /// <summary>Node i (root 0) has children 2i+1, 2i+2; bit i = 1 means "the right half is the less recently used".</summary>
    internal static ulong Touch(ulong bits, int way, int levels)
    {
        int node = 0;
        for (int level = levels - 1; level >= 0; level--)
        {
            bool right = ((way >> level) & 1) != 0;
            // Point away from the half just used.
            if (right) bits &= ~(1UL << node);
            else bits |= 1UL << node;
            node = 2 * node + (right ? 2 : 1);
        }
        return bits;
    }

    internal static int Follow(ulong bits, int levels)
    {
        int node = 0, way = 0;
        for (int level = 0; level < levels; level++)
        {
            bool right = ((bits >> node) & 1) != 0;
            way = (way << 1) | (right ? 1 : 0);
            node = 2 * node + (right ? 2 : 1);
        }
        return way;
    }
}

/// <summary>
/// Static re-reference interval prediction (SRRIP-HP, Jaleel et al., ISCA 2010) with 2-bit RRPVs: a fill is
/// predicted a long re-reference interval (RRPV 2), a hit a near-immediate one (RRPV 0); the victim is the first way
/// with a distant prediction (RRPV 3), ageing the whole set until one exists.
/// </summary>
public struct SrripPolicy : ITlbReplacementPolicy<SrripPolicy>
{
    /// <summary>A hit sets the way's prediction to 0, which a second hit leaves at 0 (only a fill and a victim search change it).</summary>
    public static bool RepeatedHitChangesNothing => true;

    /// <summary>A hit sets the way's prediction to 0, whatever it was.</summary>
    public static bool HitOverwritesEarlierHits => true;

    private const byte Distant = 3;
    private const byte Long = 2;
    private byte[] _rrpv;
    private int _ways;

    public static SrripPolicy Create(int sets, int ways, ulong seed) => new() { _rrpv = new byte[sets * ways], _ways = ways };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void OnHit(int set, int way) => _rrpv[set * _ways + way] = 0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void OnFill(int set, int way) => _rrpv[set * _ways + way] = Long;

    public readonly int Victim(int set)
    {
        var rrpv = _rrpv.AsSpan(set * _ways, _ways);
        while (true)
        {
            for (int w = 0; w < rrpv.Length; w++)
                if (rrpv[w] == Distant) return w;
            for (int w = 0; w < rrpv.Length; w++) rrpv[w]++;
        }
    }
}

