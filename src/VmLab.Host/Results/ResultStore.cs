using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;
using VmLab.Abstractions.Plugins;
using VmLab.Host.Sweeps;

namespace VmLab.Host.Results;

/// <summary>The sweep a results database belongs to.</summary>
public sealed record SweepInfo(string Name, string File, string DefinitionHash, string BaselineId, JsonArray Axes, int CaseCount)
{
    /// <summary>Where the numbers come from (description, base, traces, VmLab versions); <see cref="SweepContext.None"/> in a schema-1 database.</summary>
    public SweepContext Context { get; init; } = SweepContext.None;

    /// <summary>The schema of the database it was read from (1: no context recorded).</summary>
    public int SchemaVersion { get; init; } = ResultStore.SchemaVersion;
}

/// <summary>One finished case as stored: what ran (resolved config, seed, plugin versions), what it measured, how it ended.</summary>
public sealed record CaseResult(
    string Id,
    int Ordinal,
    JsonObject Parameters,
    JsonObject Config,
    string ConfigHash,
    ulong Seed,
    IReadOnlyDictionary<string, string> Plugins,
    IReadOnlyDictionary<string, long> Metrics,
    string Status,
    string? Error,
    IReadOnlyList<string> Events,
    double ElapsedSeconds,
    DateTime StartedUtc,
    DateTime FinishedUtc,
    string Host);

/// <summary>Everything a results database holds.</summary>
public sealed record ResultSet(SweepInfo Sweep, IReadOnlyList<CaseResult> Cases);

/// <summary>
/// A sweep's results in SQLite (WAL). Each finished case is written in its own transaction, so a process killed at
/// any moment loses no finished case and leaves no half-written one. Tables: <c>sweep</c> (key/value: name,
/// definition hash, baseline, axes and, since schema 2, the context: description, base, overrides, traces, VmLab
/// versions), <c>cases</c> (one row per finished case), <c>metrics</c> (case_id, name, value).
/// </summary>
public sealed class ResultStore : IDisposable
{
    /// <summary>PRAGMA application_id of a VmLab results database ("VmLb").</summary>
    public const int ApplicationId = 0x566D4C62;
    /// <summary>PRAGMA user_version written: 2 adds the sweep's context keys; a schema-1 database still reads, without them.</summary>
    public const int SchemaVersion = 2;
    private const int SqliteHeaderBytes = 100;

    private readonly SqliteConnection _connection;
    private readonly Lock _gate = new();

    private ResultStore(SqliteConnection connection, string path)
    {
        _connection = connection;
        Path = path;
    }

    public string Path { get; }

    /// <summary>Opens (or with <paramref name="create"/>, creates) a results database; bad files are input errors naming the file.</summary>
    public static ResultStore Open(string path, bool create)
    {
        string full = System.IO.Path.GetFullPath(path);
        RefuseDanglingLink(path, full);
        bool exists = File.Exists(full);
        if (!exists && !create)
            throw new VmLabInputException(path, "results database not found; give the --db file a sweep wrote");
        string? dir = System.IO.Path.GetDirectoryName(full);
        if (dir is not null && !Directory.Exists(dir))
            throw new VmLabInputException(path, $"cannot create the results database: directory {dir} does not exist");
        if (!exists)
        {
            CreateWhole(path, full);
            exists = true;
        }
        // SQLite takes an empty file for a new database and would write one into it: a file the user named that holds
        // nothing (or less than a database header) is refused, never overwritten.
        RefuseShorterThanAHeader(path, full, "; give a path that does not exist yet (vmlab creates the database) or remove the file");
        var builder = new SqliteConnectionStringBuilder
        {
            DataSource = full,
            Mode = create ? SqliteOpenMode.ReadWriteCreate : SqliteOpenMode.ReadWrite,
            Pooling = false,
            DefaultTimeout = 30,
        };
        var connection = new SqliteConnection(builder.ToString());
        try
        {
            connection.Open();
            var store = new ResultStore(connection, path);
            store.Initialise(exists);
            return store;
        }
        catch (SqliteException e)
        {
            connection.Dispose();
            throw Refusal(path, e);
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    private static VmLabInputException Refusal(string path, SqliteException e) =>
        new(path, e.SqliteErrorCode == 26
                ? "not a VmLab results database (not an SQLite file)"
                : $"cannot open the results database: {e.Message}");

    /// <summary>
    /// Opens a results database to read it, and nothing else: no journal-mode switch, no schema written, no lock held
    /// beyond the reads. A read-only file, one in a folder the reader cannot write, or one owned by another user works
    /// (a WAL database whose shared-memory file cannot be created there is read as an immutable file).
    /// </summary>
    public static ResultStore OpenReadOnly(string path)
    {
        string full = System.IO.Path.GetFullPath(path);
        RefuseDanglingLink(path, full);
        if (!File.Exists(full)) throw new VmLabInputException(path, "results database not found; give the --db file a sweep wrote");
        RefuseShorterThanAHeader(path, full, "");
        try
        {
            return OpenReading(path, new SqliteConnectionStringBuilder { DataSource = full, Mode = SqliteOpenMode.ReadOnly, Pooling = false, DefaultTimeout = 30 }.ToString());
        }
        catch (SqliteException e) when (e.SqliteErrorCode is 14 or 8) // SQLITE_CANTOPEN / SQLITE_READONLY: no -shm can be made beside a WAL file
        {
            string uri = "file:" + Uri.EscapeDataString(full).Replace("%2F", "/", StringComparison.Ordinal) + "?immutable=1";
            try
            {
                return OpenReading(path, new SqliteConnectionStringBuilder { DataSource = uri, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
            }
            catch (SqliteException inner)
            {
                throw new VmLabInputException(path, $"cannot open the results database: {inner.Message}");
            }
        }
    }

    /// <summary>A symbolic link whose target does not exist (File.Exists counts the link itself): an input error naming both.</summary>
    private static void RefuseDanglingLink(string path, string full)
    {
        if (new FileInfo(full).LinkTarget is { } target && !File.Exists(OutputTarget.FinalTarget(full)))
            throw new VmLabInputException(path, $"is a symbolic link to {target}, which does not exist; give a path that does not exist yet (vmlab creates the database), a link to an existing results database, or remove the link");
    }

    /// <summary>A file too short to hold an SQLite header is no results database: an input error, with <paramref name="emptyHint"/> when it is empty.</summary>
    private static void RefuseShorterThanAHeader(string path, string full, string emptyHint)
    {
        long length = new FileInfo(OutputTarget.FinalTarget(full)).Length; // a symbolic link's own length is its target's name
        if (length < SqliteHeaderBytes)
            throw new VmLabInputException(path, length == 0
                ? "is an empty file, not a VmLab results database" + emptyHint
                : $"is a {length}-byte file, not a VmLab results database (an SQLite file has a 100-byte header)");
    }

    private static ResultStore OpenReading(string path, string connectionString)
    {
        var connection = new SqliteConnection(connectionString);
        try
        {
            connection.Open();
            var store = new ResultStore(connection, path);
            store.Execute("PRAGMA busy_timeout = 30000");
            store.CheckIdentity();
            return store;
        }
        catch (SqliteException e) when (e.SqliteErrorCode == 26)
        {
            connection.Dispose();
            throw new VmLabInputException(path, "not a VmLab results database (not an SQLite file)");
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Creates a new database at <paramref name="full"/> whole: initialised under a temporary name beside it, then put
    /// in place in one step that never replaces a file (<see cref="NewFile.Place"/>), so of sweeps creating it at the
    /// same moment all open the one that got there first. A database VmLab creates is therefore never seen empty, and
    /// an empty file at a --db path is always someone else's (refused).
    /// </summary>
    private static void CreateWhole(string path, string full)
    {
        string temp = $"{full}.init-{Environment.ProcessId.ToString(CultureInfo.InvariantCulture)}-{Guid.NewGuid():N}";
        try
        {
            var builder = new SqliteConnectionStringBuilder { DataSource = temp, Mode = SqliteOpenMode.ReadWriteCreate, Pooling = false };
            using (var connection = new SqliteConnection(builder.ToString()))
            {
                connection.Open();
                var store = new ResultStore(connection, path);
                store.Initialise(existing: false);
                store.Execute("PRAGMA journal_mode = DELETE"); // one file to put in place; opening sets WAL again
            }
            // Placed only if nothing is there yet, in one step: when another sweep (a thread of this process or another
            // process) created it first, this one uses that database. A check followed by a rename would let the
            // later of two creators replace the file under the earlier one's open connection, and the two would then
            // claim two different files (both sweeps running, one database lost).
            NewFile.Place(temp, full);
        }
        catch (SqliteException e)
        {
            throw new VmLabInputException(path, $"cannot create the results database: {e.Message}");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new VmLabInputException(path, $"cannot create the results database: {e.Message}");
        }
        finally
        {
            DeleteDatabase(temp);
        }
    }

    private void Initialise(bool existing)
    {
        Execute("PRAGMA busy_timeout = 30000");
        if (existing) CheckIdentity();
        Execute("PRAGMA journal_mode = WAL");
        Execute("PRAGMA synchronous = FULL");
        Execute($"PRAGMA application_id = {ApplicationId}");
        Execute($"PRAGMA user_version = {SchemaVersion}");
        Execute("""
            CREATE TABLE IF NOT EXISTS sweep (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS cases (
                id TEXT PRIMARY KEY,
                ordinal INTEGER NOT NULL,
                parameters TEXT NOT NULL,
                config TEXT NOT NULL,
                config_hash TEXT NOT NULL,
                seed TEXT NOT NULL,
                plugins TEXT NOT NULL,
                status TEXT NOT NULL,
                error TEXT,
                events TEXT NOT NULL,
                elapsed_seconds REAL NOT NULL,
                started_utc TEXT NOT NULL,
                finished_utc TEXT NOT NULL,
                host TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS metrics (
                case_id TEXT NOT NULL,
                name TEXT NOT NULL,
                value INTEGER NOT NULL,
                PRIMARY KEY (case_id, name)) WITHOUT ROWID;
            """);
    }

    /// <summary>
    /// Records which sweep this database holds; a database of another sweep is refused. The check and the claim are
    /// one write transaction (BEGIN IMMEDIATE): of two different sweeps started on one new database at the same time,
    /// exactly one claims it and the other is refused.
    /// </summary>
    public void BeginSweep(Sweep sweep)
    {
        var context = SweepContext.Of(sweep); // reads the traces to hash them: before the write transaction
        lock (_gate)
        {
            using var tx = _connection.BeginTransaction(deferred: false);
            using (var cmd = _connection.CreateCommand())
            {
                cmd.Transaction = tx;
                cmd.CommandText = "SELECT value FROM sweep WHERE key = 'name'";
                if (cmd.ExecuteScalar() is string name && name != sweep.Name)
                    throw new VmLabInputException(Path, $"holds results of sweep '{name}', not '{sweep.Name}'; give another --db");
            }
            // Every VmLab that ran cases into this database stays listed (a resume by a newer one adds itself).
            var versions = new List<string>();
            using (var cmd = _connection.CreateCommand())
            {
                cmd.Transaction = tx;
                cmd.CommandText = "SELECT value FROM sweep WHERE key = 'vmlab_versions'";
                if (cmd.ExecuteScalar() is string stored && Guard(() => JsonNode.Parse(stored)) is JsonArray earlier)
                    versions.AddRange(earlier.OfType<JsonValue>().Select(v => v.TryGetValue<string>(out var s) ? s : null).OfType<string>());
            }
            foreach (var v in context.VmLabVersions ?? []) if (!versions.Contains(v)) versions.Add(v);
            var info = new SweepInfo(sweep.Name, sweep.File, sweep.DefinitionHash, sweep.BaselineId, AxesJson(sweep), sweep.Cases.Count)
            {
                Context = context with { VmLabVersions = versions },
            };
            PutSweep(tx, info);
            tx.Commit();
        }
    }

    public static JsonArray AxesJson(Sweep sweep) =>
    [
        .. sweep.Axes.Select(a => (JsonNode)new JsonObject
        {
            ["name"] = a.Name,
            ["key"] = a.Key,
            ["values"] = new JsonArray([.. a.Values.Select(v => (JsonNode)new JsonObject { ["label"] = v.Label, ["value"] = v.Value.DeepClone() })]),
        }),
    ];

    private void WriteSweep(SweepInfo info)
    {
        lock (_gate)
        {
            using var tx = _connection.BeginTransaction();
            PutSweep(tx, info);
            tx.Commit();
        }
    }

    private void PutSweep(SqliteTransaction tx, SweepInfo info)
    {
        void Put(string key, string value)
        {
            using var cmd = _connection.CreateCommand();
            cmd.Transaction = tx;
            cmd.CommandText = "INSERT OR REPLACE INTO sweep (key, value) VALUES ($k, $v)";
            cmd.Parameters.AddWithValue("$k", key);
            cmd.Parameters.AddWithValue("$v", value);
            cmd.ExecuteNonQuery();
        }
        Put("name", info.Name);
        Put("file", info.File);
        Put("definition_hash", info.DefinitionHash);
        Put("baseline", info.BaselineId);
        Put("axes", info.Axes.ToJsonString());
        Put("case_count", info.CaseCount.ToString(CultureInfo.InvariantCulture));
        var context = info.Context;
        if (context.Description is { } description) Put("description", description);
        if (context.Base is { } b)
            Put("base", new JsonObject { ["file"] = b.File, ["name"] = b.Name, ["resolved"] = b.Resolved, ["config"] = b.Config.DeepClone() }.ToJsonString());
        if (context.Overrides is { } overrides) Put("overrides", StringsJson(overrides));
        if (context.Traces is { } traces) Put("traces", new JsonArray([.. traces.Select(SweepContext.TraceJson)]).ToJsonString());
        if (context.VmLabVersions is { } versions) Put("vmlab_versions", StringsJson(versions));
    }

    /// <summary>The context keys of the sweep table; each one absent (a schema-1 database) is a part not recorded.</summary>
    private static SweepContext ReadContext(Dictionary<string, string> meta)
    {
        BaseExperiment? baseExperiment = null;
        if (meta.TryGetValue("base", out var baseText))
        {
            var node = JsonNode.Parse(baseText) as JsonObject ?? throw new FormatException("sweep base: not a JSON object");
            baseExperiment = new BaseExperiment(
                node["file"]?.GetValue<string>(),
                node["name"]?.GetValue<string>(),
                node["config"] as JsonObject ?? throw new FormatException("sweep base: config is not a JSON object"),
                node["resolved"]?.GetValue<bool>() ?? throw new FormatException("sweep base: resolved is missing"));
            node.Remove("config"); // detach the config from its parent so it can be kept alone
        }
        List<string>? Strings(string key) => meta.TryGetValue(key, out var text)
            ? ReadStrings(text, $"sweep {key}: not a JSON array of strings")
            : null;
        List<TraceFile>? traces = meta.TryGetValue("traces", out var tracesText)
            ? [.. (JsonNode.Parse(tracesText) as JsonArray ?? throw new FormatException("sweep traces: not a JSON array")).Select(SweepContext.ReadTrace)]
            : null;
        return new SweepContext(meta.GetValueOrDefault("description"), baseExperiment, Strings("overrides"), traces, Strings("vmlab_versions"));
    }

    private Dictionary<string, string> ReadMeta()
    {
        lock (_gate)
        {
            var result = new Dictionary<string, string>(StringComparer.Ordinal);
            using var cmd = _connection.CreateCommand();
            cmd.CommandText = "SELECT key, value FROM sweep";
            using var r = cmd.ExecuteReader();
            while (r.Read()) result[r.GetString(0)] = r.GetString(1);
            return result;
        }
    }

    /// <summary>The finished cases: id → (status, config hash).</summary>
    public Dictionary<string, (string Status, string ConfigHash)> Finished() => Guard(FinishedCore);

    private Dictionary<string, (string Status, string ConfigHash)> FinishedCore()
    {
        lock (_gate)
        {
            var result = new Dictionary<string, (string, string)>(StringComparer.Ordinal);
            using var cmd = _connection.CreateCommand();
            cmd.CommandText = "SELECT id, status, config_hash FROM cases";
            using var r = cmd.ExecuteReader();
            while (r.Read()) result[r.GetString(0)] = (r.GetString(1), r.GetString(2));
            return result;
        }
    }

    /// <summary>Writes one finished case (replacing an earlier result of the same id) in one transaction.</summary>
    public void Save(CaseResult c)
    {
        lock (_gate)
        {
            using var tx = _connection.BeginTransaction();
            SaveIn(tx, c);
            tx.Commit();
        }
    }

    private void SaveIn(SqliteTransaction tx, CaseResult c)
    {
        using (var del = _connection.CreateCommand())
        {
            del.Transaction = tx;
            del.CommandText = "DELETE FROM metrics WHERE case_id = $id";
            del.Parameters.AddWithValue("$id", c.Id);
            del.ExecuteNonQuery();
        }
        using (var cmd = _connection.CreateCommand())
        {
            cmd.Transaction = tx;
            cmd.CommandText = """
                INSERT OR REPLACE INTO cases (id, ordinal, parameters, config, config_hash, seed, plugins, status, error, events,
                                              elapsed_seconds, started_utc, finished_utc, host)
                VALUES ($id, $ordinal, $parameters, $config, $hash, $seed, $plugins, $status, $error, $events, $elapsed, $started, $finished, $host)
                """;
            cmd.Parameters.AddWithValue("$id", c.Id);
            cmd.Parameters.AddWithValue("$ordinal", c.Ordinal);
            cmd.Parameters.AddWithValue("$parameters", c.Parameters.ToJsonString());
            cmd.Parameters.AddWithValue("$config", c.Config.ToJsonString());
            cmd.Parameters.AddWithValue("$hash", c.ConfigHash);
            cmd.Parameters.AddWithValue("$seed", c.Seed.ToString(CultureInfo.InvariantCulture));
            cmd.Parameters.AddWithValue("$plugins", StringMapJson(c.Plugins));
            cmd.Parameters.AddWithValue("$status", c.Status);
            cmd.Parameters.AddWithValue("$error", (object?)c.Error ?? DBNull.Value);
            cmd.Parameters.AddWithValue("$events", StringsJson(c.Events));
            cmd.Parameters.AddWithValue("$elapsed", c.ElapsedSeconds);
            cmd.Parameters.AddWithValue("$started", c.StartedUtc.ToString("O", CultureInfo.InvariantCulture));
            cmd.Parameters.AddWithValue("$finished", c.FinishedUtc.ToString("O", CultureInfo.InvariantCulture));
            cmd.Parameters.AddWithValue("$host", c.Host);
            cmd.ExecuteNonQuery();
        }
        using (var ins = _connection.CreateCommand())
        {
            ins.Transaction = tx;
            ins.CommandText = "INSERT INTO metrics (case_id, name, value) VALUES ($id, $name, $value)";
            var pName = ins.Parameters.Add("$name", SqliteType.Text);
            var pValue = ins.Parameters.Add("$value", SqliteType.Integer);
            ins.Parameters.AddWithValue("$id", c.Id);
            foreach (var (name, value) in c.Metrics)
            {
                pName.Value = name;
                pValue.Value = value;
                ins.ExecuteNonQuery();
            }
        }
    }

    /// <summary>Reads the whole database: the sweep and its finished cases in expansion order.</summary>
    public ResultSet Read() => Guard(ReadCore);

    // Lists of strings and string maps are written and read as JSON nodes, not with System.Text.Json's reflection
    // serializer: the same text, and nothing the natively compiled command lacks.
    private static string StringsJson(IEnumerable<string> items) => new JsonArray([.. items.Select(s => (JsonNode?)JsonValue.Create(s))]).ToJsonString();

    private static string StringMapJson(IEnumerable<KeyValuePair<string, string>> map) =>
        new JsonObject([.. map.Select(p => KeyValuePair.Create(p.Key, (JsonNode?)JsonValue.Create(p.Value)))]).ToJsonString();

    private static List<string> ReadStrings(string text, string shape) =>
        JsonNode.Parse(text) is JsonArray array ? [.. array.Select(n => n?.GetValue<string>() ?? throw new FormatException(shape))] : throw new FormatException(shape);

    private static SortedDictionary<string, string> ReadStringMap(string text, string shape)
    {
        if (JsonNode.Parse(text) is not JsonObject map) throw new FormatException(shape);
        var result = new SortedDictionary<string, string>();
        foreach (var (key, value) in map) result[key] = value?.GetValue<string>() ?? throw new FormatException(shape);
        return result;
    }

    /// <summary>
    /// Runs a read of the database's content; a value that does not parse (a field edited by hand, a damaged file)
    /// is an input error naming the file, never an unhandled exception.
    /// </summary>
    private T Guard<T>(Func<T> read)
    {
        try
        {
            return read();
        }
        catch (Exception e) when (e is FormatException or InvalidCastException or JsonException or OverflowException
                                       or ArgumentException or InvalidOperationException or NullReferenceException or KeyNotFoundException)
        {
            throw new VmLabInputException(Path, $"is damaged and cannot be read ({e.GetType().Name}: {e.Message}); restore it, or run the sweep into a new --db");
        }
    }

    private ResultSet ReadCore()
    {
        var meta = ReadMeta();
        if (!meta.TryGetValue("name", out var name))
            throw new VmLabInputException(Path, "holds no sweep (the sweep that should have written it did not start)");
        var info = new SweepInfo(
            name,
            meta.GetValueOrDefault("file", ""),
            meta.GetValueOrDefault("definition_hash", ""),
            meta.GetValueOrDefault("baseline", ""),
            JsonNode.Parse(meta.GetValueOrDefault("axes", "[]")) as JsonArray ?? throw new FormatException("sweep axes: not a JSON array"),
            int.Parse(meta.GetValueOrDefault("case_count", "0"), CultureInfo.InvariantCulture))
        {
            Context = ReadContext(meta),
            SchemaVersion = (int)Scalar<long>("PRAGMA user_version"),
        };
        lock (_gate)
        {
            var metrics = new Dictionary<string, SortedDictionary<string, long>>(StringComparer.Ordinal);
            using (var cmd = _connection.CreateCommand())
            {
                cmd.CommandText = "SELECT case_id, name, value FROM metrics";
                using var r = cmd.ExecuteReader();
                while (r.Read())
                {
                    if (!metrics.TryGetValue(r.GetString(0), out var m)) metrics[r.GetString(0)] = m = new(StringComparer.Ordinal);
                    m[r.GetString(1)] = r.GetInt64(2);
                }
            }
            var cases = new List<CaseResult>();
            using (var cmd = _connection.CreateCommand())
            {
                cmd.CommandText = """
                    SELECT id, ordinal, parameters, config, config_hash, seed, plugins, status, error, events,
                           elapsed_seconds, started_utc, finished_utc, host
                    FROM cases ORDER BY ordinal, id
                    """;
                using var r = cmd.ExecuteReader();
                while (r.Read())
                {
                    string id = r.GetString(0);
                    cases.Add(new CaseResult(
                        id,
                        r.GetInt32(1),
                        JsonNode.Parse(r.GetString(2)) as JsonObject ?? throw new FormatException($"case {id}: parameters are not a JSON object"),
                        JsonNode.Parse(r.GetString(3)) as JsonObject ?? throw new FormatException($"case {id}: config is not a JSON object"),
                        r.GetString(4),
                        ulong.Parse(r.GetString(5), CultureInfo.InvariantCulture),
                        ReadStringMap(r.GetString(6), $"case {id}: plugins are not a JSON object of strings"),
                        metrics.TryGetValue(id, out var m) ? m : new SortedDictionary<string, long>(StringComparer.Ordinal),
                        r.GetString(7),
                        r.IsDBNull(8) ? null : r.GetString(8),
                        ReadStrings(r.GetString(9), $"case {id}: events are not a JSON array of strings"),
                        r.GetDouble(10),
                        DateTime.Parse(r.GetString(11), CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind),
                        DateTime.Parse(r.GetString(12), CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind),
                        r.GetString(13)));
                }
            }
            return new ResultSet(info, cases);
        }
    }

    /// <summary>
    /// Merges databases of one sweep (shards) into <paramref name="output"/>: the union of their cases, a completed
    /// result preferred to a failed one. Databases of different sweeps, or holding different configs under one case
    /// id, are refused. The output appears whole (written beside it, then renamed) or not at all.
    /// </summary>
    public static ResultSet Merge(IReadOnlyList<string> inputs, string output)
    {
        if (inputs.Count == 0) throw new VmLabInputException("merge", "give at least one results database to merge");
        string outFull = System.IO.Path.GetFullPath(output);
        string outTarget = OutputTarget.FinalTarget(outFull);
        foreach (var input in inputs)
            if (OutputTarget.FinalTarget(System.IO.Path.GetFullPath(input)) == outTarget)
                throw new VmLabInputException(input, "is also the output; write the merge to a new file");
        OutputTarget.Check(output);
        var sets = new List<(string Path, ResultSet Set)>();
        foreach (var input in inputs)
        {
            using var store = OpenReadOnly(input); // the shards are only read: their files and journal modes stay as they are
            sets.Add((input, store.Read()));
        }
        var first = sets[0];
        foreach (var (path, set) in sets.Skip(1))
        {
            if (set.Sweep.Name != first.Set.Sweep.Name)
                throw new VmLabInputException(path, $"holds sweep '{set.Sweep.Name}', but {first.Path} holds '{first.Set.Sweep.Name}'; only shards of one sweep merge");
            if (set.Sweep.DefinitionHash != first.Set.Sweep.DefinitionHash)
                throw new VmLabInputException(path, $"holds a different definition of sweep '{set.Sweep.Name}' than {first.Path} (the sweep file or plugins changed between runs)");
        }
        var merged = new Dictionary<string, (string Path, CaseResult Case)>(StringComparer.Ordinal);
        foreach (var (path, set) in sets)
        {
            foreach (var c in set.Cases)
            {
                if (!merged.TryGetValue(c.Id, out var seen))
                {
                    merged[c.Id] = (path, c);
                    continue;
                }
                if (seen.Case.ConfigHash != c.ConfigHash)
                    throw new VmLabInputException(path, $"case {c.Id} ran a different config than in {seen.Path}");
                if (seen.Case.Status != Running.RunResult.Completed && c.Status == Running.RunResult.Completed) merged[c.Id] = (path, c);
            }
        }

        // The context is the first shard's (one definition, so one base and one set of traces), with every VmLab
        // version any shard recorded.
        var versions = sets.Select(s => s.Set.Sweep.Context.VmLabVersions).ToList();
        var mergedInfo = versions.Any(v => v is not null)
            ? first.Set.Sweep with { Context = first.Set.Sweep.Context with { VmLabVersions = [.. versions.SelectMany(v => v ?? []).Distinct(StringComparer.Ordinal)] } }
            : first.Set.Sweep;
        // Built under a temporary name beside the output's final target (a symbolic link is followed), then renamed
        // over it; a device or FIFO is written through instead of being replaced.
        string temp = OutputTarget.TempFor(output);
        DeleteDatabase(temp);
        try
        {
            using (var store = Open(temp, create: true))
            {
                store.WriteSweep(mergedInfo);
                lock (store._gate)
                {
                    using var tx = store._connection.BeginTransaction();
                    foreach (var (_, c) in merged.Values.OrderBy(x => x.Case.Ordinal).ThenBy(x => x.Case.Id, StringComparer.Ordinal))
                        store.SaveIn(tx, c);
                    tx.Commit();
                }
                store.Execute("PRAGMA wal_checkpoint(TRUNCATE)");
                store.Execute("PRAGMA journal_mode = DELETE");
            }
            if (OutputTarget.KindOf(outFull) != OutputTarget.Kind.Special)
                foreach (var suffix in new[] { "-wal", "-shm", "-journal" })
                    if (File.Exists(outTarget + suffix)) File.Delete(outTarget + suffix); // a former database's journal must not meet the new file
            OutputTarget.Place(output, temp);
        }
        finally
        {
            DeleteDatabase(temp);
        }
        if (OutputTarget.KindOf(outFull) == OutputTarget.Kind.Special)
        {
            // Written into a device or FIFO: nothing to read back; the merged set is what was written.
            return new ResultSet(mergedInfo, [.. merged.Values.OrderBy(x => x.Case.Ordinal).ThenBy(x => x.Case.Id, StringComparer.Ordinal).Select(x => x.Case)]);
        }
        using var result = OpenReadOnly(outFull); // read back without switching it to WAL: the merged file stays in DELETE mode
        return result.Read();
    }

    /// <summary>Refuses an SQLite file another program wrote, or one a newer VmLab wrote (reads only).</summary>
    private void CheckIdentity()
    {
        long appId = Scalar<long>("PRAGMA application_id");
        long tables = Scalar<long>("SELECT count(*) FROM sqlite_master WHERE type = 'table'");
        if (appId != ApplicationId && tables > 0)
            throw new VmLabInputException(Path, "not a VmLab results database (an SQLite file written by something else)");
        long version = Scalar<long>("PRAGMA user_version");
        if (appId == ApplicationId && version > SchemaVersion)
            throw new VmLabInputException(Path, $"written by a newer VmLab (schema {version}, this one reads {SchemaVersion})");
    }

    private static void DeleteDatabase(string path)
    {
        foreach (var suffix in new[] { "", "-wal", "-shm", "-journal" })
            if (File.Exists(path + suffix)) File.Delete(path + suffix);
    }

    private void Execute(string sql)
    {
        using var cmd = _connection.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    private T Scalar<T>(string sql)
    {
        using var cmd = _connection.CreateCommand();
        cmd.CommandText = sql;
        return (T)Convert.ChangeType(cmd.ExecuteScalar()!, typeof(T), CultureInfo.InvariantCulture);
    }

    public void Dispose() => _connection.Dispose();
}
