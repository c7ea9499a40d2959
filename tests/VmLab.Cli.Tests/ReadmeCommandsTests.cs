using System.Text.RegularExpressions;

namespace VmLab.Cli.Tests;

public sealed partial class ReadmeCommandsTests
{
    [GeneratedRegex(@"Run the tests:\s*```\s*\n(?<cmd>[^\n]+)\n```")]
    private static partial Regex TestCommand();

    [Fact]
    public void CiRunsExactlyTheReadmesTestCommand()
    {
        string readme = File.ReadAllText(Cli.Repo("README.md"));
        var m = TestCommand().Match(readme);
        Assert.True(m.Success, "README.md has no 'Run the tests:' code block");
        string command = m.Groups["cmd"].Value.Trim();
        var ci = File.ReadAllLines(Cli.Repo(".ci", "run")).Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#'));
        Assert.Contains(ci, l => l == command || l.StartsWith(command + " ", StringComparison.Ordinal));
        // The command is a script in the checkout that ends by running dotnet test with what it was given.
        string script = File.ReadAllText(Cli.Repo(command.TrimStart('.', '/')));
        Assert.Contains("exec dotnet test \"$@\"", script);
    }
}
