namespace VmLab.Host.Tests;

/// <summary>Paths inside the repository the tests run from.</summary>
public static class Repo
{
    public static string Root { get; } = FindRoot();

    public static string Path(params string[] parts) => System.IO.Path.Combine([Root, .. parts]);

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(System.IO.Path.Combine(dir.FullName, "VmLab.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("VmLab.sln not found above " + AppContext.BaseDirectory);
    }
}

/// <summary>A scratch folder deleted at dispose.</summary>
public sealed class TempDir : IDisposable
{
    public TempDir() => Directory.CreateDirectory(PathName);

    public string PathName { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "vmlab-test-" + Guid.NewGuid().ToString("N")[..12]);

    public string File(string name, string contents)
    {
        string p = System.IO.Path.Combine(PathName, name);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(p)!);
        System.IO.File.WriteAllText(p, contents);
        return p;
    }

    public void Dispose()
    {
        try { Directory.Delete(PathName, recursive: true); } catch (IOException) { }
    }
}
