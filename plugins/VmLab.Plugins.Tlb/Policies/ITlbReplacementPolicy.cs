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
}
