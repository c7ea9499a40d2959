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
    public static string? Nearest(string input, IEnumerable<string> candidates)
    {
        string? best = null;
        int bestDistance = int.MaxValue;
        foreach (var c in candidates)
        {
            int d = Distance(input.ToLowerInvariant(), c.ToLowerInvariant());
            if (d < bestDistance)
            {
                bestDistance = d;
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
