using System.Text;
using Spectre.Console;
using VmLab.Cli;
using VmLab.Host.Running;

namespace VmLab.Cli.Tests;

/// <summary>The progress display of `vmlab run` on a terminal, drawn into a recorded console.</summary>
public sealed class RunProgressTests
{
    /// <summary>A console output that several threads may write while the test reads it.</summary>
    private sealed class SharedText : TextWriter
    {
        private readonly StringBuilder _text = new();
        private readonly Lock _gate = new();

        public override Encoding Encoding => Encoding.UTF8;

        public override void Write(char value)
        {
            lock (_gate) _text.Append(value);
        }

        public override void Write(string? value)
        {
            lock (_gate) _text.Append(value);
        }

        public string Text
        {
            get
            {
                lock (_gate) return _text.ToString();
            }
        }
    }

    private static (IAnsiConsole Console, SharedText Output) Terminal()
    {
        var output = new SharedText();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(output),
            Ansi = AnsiSupport.Yes,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.Yes,
        });
        console.Profile.Width = 120;
        return (console, output);
    }

    /// <summary>Waits (up to a generous deadline) until the display has drawn <paramref name="text"/>.</summary>
    private static bool Drawn(SharedText output, string text)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (DateTime.UtcNow < deadline)
        {
            if (output.Text.Contains(text, StringComparison.Ordinal)) return true;
            Thread.Sleep(20);
        }
        return false;
    }

    [Fact]
    public void AWorkloadThatKnowsHowFarItIsGetsAPercentageBesideItsAccesses()
    {
        var (console, output) = Terminal();
        double? progress = 0.25;

        int result = RunProgress.Show(console, "ls", started =>
        {
            started(new RunMonitor(() => 1_234_567, () => progress));
            Assert.True(Drawn(output, " 25%"), output.Text);
            progress = 0.5;
            Assert.True(Drawn(output, " 50%"), output.Text);
            return 42;
        });

        Assert.Equal(42, result);
        Assert.Contains("ls: 1,234,567 accesses", output.Text);
    }

    [Fact]
    public void AWorkloadThatCannotTellShowsAccessesWithoutAPercentage()
    {
        var (console, output) = Terminal();

        RunProgress.Show(console, "scenario", started =>
        {
            started(new RunMonitor(() => 77, () => null));
            Assert.True(Drawn(output, "scenario: 77 accesses"), output.Text);
            return 0;
        });

        Assert.DoesNotContain("%", output.Text);
    }
}
