using System.Numerics;

namespace VmLab.Abstractions;

/// <summary>
/// xoshiro256** (Blackman and Vigna), seeded through SplitMix64: the one deterministic generator components use, from
/// <see cref="Plugins.ComponentContext.Seed"/>, so the same seed gives the same run on every machine. A mutable
/// struct: keep it in a field, never copy it.
/// </summary>
public struct Xoshiro256
{
    private ulong _s0, _s1, _s2, _s3;

    public Xoshiro256(ulong seed)
    {
        _s0 = SplitMix(ref seed);
        _s1 = SplitMix(ref seed);
        _s2 = SplitMix(ref seed);
        _s3 = SplitMix(ref seed);
    }

    /// <summary>SplitMix64: advances <paramref name="x"/> and returns the next well-mixed value.</summary>
    public static ulong SplitMix(ref ulong x)
    {
        ulong z = x += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    public ulong Next()
    {
        ulong result = BitOperations.RotateLeft(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0;
        _s3 ^= _s1;
        _s1 ^= _s2;
        _s0 ^= _s3;
        _s2 ^= t;
        _s3 = BitOperations.RotateLeft(_s3, 45);
        return result;
    }

    /// <summary>Uniform in [0, <paramref name="n"/>) from the high 32 bits (Lemire's multiply-shift; bias below 2⁻³² for small n).</summary>
    public int Below(int n) => (int)(((Next() >> 32) * (ulong)n) >> 32);

    /// <summary>Uniform in [0, <paramref name="n"/>) from all 64 bits (Lemire's multiply-shift, the high half of the 128-bit product).</summary>
    public ulong Below(ulong n) => Math.BigMul(Next(), n, out _);

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (Next() >> 11) * (1.0 / (1UL << 53));
}
