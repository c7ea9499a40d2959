namespace VmLab.Host.Config;

/// <summary>One problem with the input: where (file:line:column, --set, or a key path) and what is wrong.</summary>
public sealed record ConfigError(string Where, string Message)
{
    public override string ToString() => $"{Where}: {Message}";
}

/// <summary>The input has errors; nothing was run. Carries every error found, in input order.</summary>
public sealed class ConfigException(IReadOnlyList<ConfigError> errors)
    : Exception(string.Join(Environment.NewLine, errors))
{
    public IReadOnlyList<ConfigError> Errors { get; } = errors;
}

/// <summary>"Did you mean" by edit distance.</summary>
public static class Suggest
{
    /// <summary>
    /// The candidate nearest <paramref name="input"/> by edit distance, within max(2, a third of its length); of equally
    /// near ones, the one sharing the longest prefix (<c>tlb.miss</c> is nearer <c>tlb.misses</c> than <c>tlb.hits</c>).
    /// </summary>
    public static string? Nearest(string input, IEnumerable<string> candidates)
    {
        string? best = null;
        int bestDistance = int.MaxValue, bestPrefix = -1;
        string lower = input.ToLowerInvariant();
        foreach (var c in candidates)
        {
            string candidate = c.ToLowerInvariant();
            int d = Distance(lower, candidate);
            int prefix = CommonPrefix(lower, candidate);
            if (d < bestDistance || (d == bestDistance && prefix > bestPrefix))
            {
                bestDistance = d;
                bestPrefix = prefix;
                best = c;
            }
        }
        return best is not null && bestDistance <= Math.Max(2, input.Length / 3) ? best : null;
    }

    public static string Hint(string input, IReadOnlyCollection<string> candidates)
    {
        var nearest = Nearest(input, candidates);
        string allowed = candidates.Count == 0 ? "none" : string.Join(", ", candidates);
        return nearest is null ? $"allowed: {allowed}" : $"did you mean '{nearest}'? allowed: {allowed}";
    }

    private static int CommonPrefix(string a, string b)
    {
        int n = 0;
        while (n < a.Length && n < b.Length && a[n] == b[n]) n++;
        return n;
    }

    private static int Distance(string a, string b)
    {
        var prev = new int[b.Length + 1];
        var cur = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++) prev[j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            cur[0] = i;
            for (int j = 1; j <= b.Length; j++)
            {
                int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                cur[j] = Math.Min(Math.Min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + cost);
            }
            (prev, cur) = (cur, prev);
        }
        return prev[b.Length];
    }
}
