namespace VmLab.Plugins.Tlb.Policies;

/// <summary>
/// Replacement inside one set of a set-associative TLB array. The array calls it on every hit and fill and asks it
/// for a victim only when every way of the set is valid (an invalid way is always filled first).
/// <para>
/// Implement it on a <c>struct</c> (the array stores it in a field and calls it directly: the JIT specialises the
/// array on it, so no interface call happens per access) or, to prototype, on a sealed class (shared generic code,
/// one indirect call per access). <see cref="Create"/> is called once per array.
/// </para>
/// </summary>
public interface ITlbReplacementPolicy<TSelf> where TSelf : ITlbReplacementPolicy<TSelf>
{
    /// <summary>A policy for an array of <paramref name="sets"/> × <paramref name="ways"/>; randomness only from <paramref name="seed"/>.</summary>
    static abstract TSelf Create(int sets, int ways, ulong seed);

    /// <summary>A lookup hit the entry in <paramref name="way"/> of <paramref name="set"/>.</summary>
    void OnHit(int set, int way);

    /// <summary>A new translation was placed in <paramref name="way"/> of <paramref name="set"/>.</summary>
    void OnFill(int set, int way);

    /// <summary>The way of a full set to evict.</summary>
    int Victim(int set);

    /// <summary>
    /// Whether <see cref="OnHit"/> on the way of the policy's last call, when that call was an <see cref="OnHit"/> of
    /// the same set and way, changes nothing that a later <see cref="Victim"/> depends on. True lets the TLBs over the
    /// policy report such hits as repeatable (<c>IRepeatHitTlb</c>: the MMU then counts them without a lookup; docs/tlb.md,
    /// "Page runs"). The default, false, is always exact; a policy whose hits count or age something each time must
    /// keep it.
    /// </summary>
    static virtual bool RepeatedHitChangesNothing => false;

    /// <summary>
    /// Whether a hit's effect depends only on the set and way hit and overwrites whatever an earlier hit of that way
    /// did (moves it to the front, stamps it with the latest time, points bits away from it, sets a value), so that
    /// after hits of way X and then way Y of a set, further hits alternating between them leave the policy, as far as
    /// a later <see cref="Victim"/> depends, as one hit of the way used last would. True (with
    /// <see cref="RepeatedHitChangesNothing"/>) lets the TLBs over the policy declare pair runs
    /// (<c>IRepeatHitTlb.RepeatsPairs</c>: the MMU counts hits alternating between two pages without lookups). The
    /// default, false, is always exact; a policy whose hit adds to something (a count, an age) keeps it.
    /// </summary>
    static virtual bool HitOverwritesEarlierHits => false;
}
