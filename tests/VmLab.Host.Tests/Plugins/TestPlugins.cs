using System.Diagnostics;

namespace VmLab.Host.Tests.Plugins;

/// <summary>The test plugins under tests/TestPlugins, built with the tests and copied to testplugins/&lt;Name&gt;/ beside them.</summary>
public static class TestPlugins
{
    public static string Directory => Path.Combine(AppContext.BaseDirectory, "testplugins");

    public static string Folder(string name) => Path.Combine(Directory, "VmLab.TestPlugins." + name);
}

/// <summary>Tests that run <c>dotnet build</c> on projects referencing the checkout's Abstractions: one at a time, never two builds of it at once.</summary>
[CollectionDefinition(Name)]
public sealed class DotnetBuildCollection
{
    public const string Name = "dotnet build";
}

/// <summary>Runs the dotnet CLI for a test and fails it with the full log when the command fails.</summary>
public static class DotnetCli
{
    public static void Run(string workingDirectory, params string[] args)
    {
        using var process = Process.Start(new ProcessStartInfo("dotnet", args)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        var stderr = process.StandardError.ReadToEndAsync();
        string log = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"dotnet {string.Join(' ', args)} failed:\n{log}{stderr.Result}");
    }
}
