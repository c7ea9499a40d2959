using VmLab.Abstractions;
using VmLab.Abstractions.Plugins;
using VmLab.Abstractions.Workloads;
using VmLab.Plugins.Scenarios;

namespace VmLab.Plugins.Tests.Scenarios;

/// <summary>
/// The scenario parser on its own: statements become steps, and every error names file:line:column of the offending
/// token before anything runs. The same errors through <c>vmlab run</c> (exit 2, no stack trace) are checked in
/// VmLab.Cli.Tests (ScenarioTests).
/// </summary>
public sealed class ScenarioParserTests
{
    private const string File = "t.vms";

    private static VmLabInputException Error(string text) => Assert.Throws<VmLabInputException>(() => ScenarioParser.Parse(File, text));

    [Fact]
    public void StatementsBecomeStepsWithTheirLinesSizesProtectionsAndFlags()
    {
        var steps = ScenarioParser.Parse(File, """
            # a comment line is skipped
            process p cpu 1
            p mmap a 2p rw shared populate   # a trailing comment
            p write every page of a value 7
            p mprotect a+1p 4k r
            expect p minflt == 2
            """);

        Assert.Equal([2, 3, 4, 5, 6], steps.Select(s => s.Line));
        Assert.Equal(new ProcessStep(2, "p", 1), steps[0]);
        Assert.Equal(new MmapStep(3, "p", "a", 2 * 4096, Protection.ReadWrite, MapFlags.Shared | MapFlags.Populate, null, 0, null), steps[1]);
        var every = Assert.IsType<EveryPageStep>(steps[2]);
        Assert.Equal((AccessKind.Write, new RangeExpr(new AddressExpr("a", 0), null), 7UL), (every.Kind, every.Range, every.Value));
        var range = Assert.IsType<RangeStep>(steps[3]);
        Assert.Equal((RangeCall.Mprotect, new AddressExpr("a", 4096), (ulong?)4096, Protection.Read), (range.Call, range.Range.Start, range.Range.Length, range.Prot));
        var expect = Assert.IsType<ExpectCounter>(steps[4]);
        Assert.Equal(("p", Comparison.Equal, 2L), (expect.Process, expect.Op, expect.Expected));
    }

    [Fact]
    public void TokensCarryTheirColumnsAndSemicolonsAndCommentsEndThem()
    {
        var tokens = ScenarioParser.Tokenize("  p write a;b # c d", 9);
        Assert.Equal([new Token("p", 9, 3), new Token("write", 9, 5), new Token("a", 9, 11), new Token(";", 9, 12), new Token("b", 9, 13)], tokens);
    }

    [Theory]
    [InlineData("process p\np mmap a 2p rw private\np frobnicate a\n", "t.vms:3:3", "unknown verb 'frobnicate'")]
    [InlineData("process p\nq write 0x10 1\n", "t.vms:2:1", "unknown process 'q'")]
    [InlineData("process p\np write b+4 1\n", "t.vms:2:9", "unknown region 'b'")]
    [InlineData("process p\np mmap a 2p rwz private\n", "t.vms:2:13", "expected a protection")]
    [InlineData("process p\np mmap a 2p rw private frozen\n", "t.vms:2:24", "unknown mmap flag 'frozen'")]
    [InlineData("process p\np mmap a 2p rw file lib\n", "t.vms:2:21", "unknown file 'lib'")]
    [InlineData("process p\n\n   p mmap a 0 rw\n", "t.vms:3:13", "a positive size")]
    [InlineData("process p\nprocess p\n", "t.vms:2:9", "'p' is already used")]
    [InlineData("file f 100 fill 300\n", "t.vms:1:20", "the fill byte is 0 to 255")]
    [InlineData("process p\np mmap a 1p rw fixed\n", "t.vms:2:21", "'fixed' needs 'at ADDR'")]
    [InlineData("process p\np mmap a 1p rw\nexpect p page a dirty\n", "t.vms:3:17", "unknown page state 'dirty'; states: present, swapped, exclusive, file")]
    [InlineData("process p\np mmap a 1p rw\nexpect p page a frame < p page a frame\n", "t.vms:3:23", "frames compare with == or !=")]
    [InlineData("process p\np mmap a 1p rw\np memset a 1p 256\n", "t.vms:3:15", "memset stores one byte")]
    [InlineData("process p\np mmap a 1p rw\np madvise a willneed\n", "t.vms:3:13", "unknown advice 'willneed'; advice: dontneed, free, dontfork, dofork, wipeonfork, keeponfork, cold, pageout, populate_read, populate_write, normal, random, sequential")]
    [InlineData("process p\np mmap a 1p rw\np mincore a\nexpect p mincore vector 1x\n", "t.vms:4:25", "a residency vector is one 0 or 1 per page")]
    [InlineData("process p\np mmap a 1p rw fixed_noreplace\n", "t.vms:2:31", "'fixed_noreplace' needs 'at ADDR'")]
    [InlineData("process p\np mlockall current forever\n", "t.vms:2:20", "unknown mlockall flag 'forever'; flags: current, future, onfault")]
    public void AnErrorNamesFileLineAndColumnOfTheOffendingToken(string text, string where, string message)
    {
        var e = Error(text);
        Assert.Equal(where, e.Where);
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void PageExpectationsNameTheStateTheFramesAndTheCount()
    {
        var steps = ScenarioParser.Parse(File, """
            process p
            p mmap a 2p rw
            expect p page a+1p not exclusive
            expect p page a frame != p page a+1p frame
            expect p pages a present == 2
            p memcpy a+1p a 100
            """);
        Assert.Equal(new ExpectPage(3, "p page a+1p not exclusive", "p", new AddressExpr("a", 4096), PageState.Exclusive, true), steps[2]);
        Assert.Equal(new ExpectFrames(4, "p page a frame != p page a+1p frame", "p", new AddressExpr("a", 0), false, "p", new AddressExpr("a", 4096)), steps[3]);
        var count = Assert.IsType<ExpectPageCount>(steps[4]);
        Assert.Equal((PageState.Present, Comparison.Equal, 2L), (count.State, count.Op, count.Expected));
        Assert.Equal(new MemcpyStep(6, "p", new AddressExpr("a", 4096), new AddressExpr("a", 0), 100), steps[5]);
    }

    [Fact]
    public void AnErrorAtTheEndOfALinePointsJustPastItsLastToken()
    {
        var e = Error("process p\np mmap a\n");
        Assert.Equal("t.vms:2:9", e.Where); // "p mmap a" ends at column 8
        Assert.Contains("expected a length at the end of the line", e.Message);
    }

    [Fact]
    public void NumbersTakeHexAndSizeSuffixes()
    {
        Assert.True(TokenCursor.TryNumber("0x10", out long hex));
        Assert.True(TokenCursor.TryNumber("3p", out long pages));
        Assert.True(TokenCursor.TryNumber("4k", out long kib));
        Assert.True(TokenCursor.TryNumber("-2", out long negative));
        Assert.Equal((16L, 3 * 4096L, 4096L, -2L), (hex, pages, kib, negative));
        Assert.False(TokenCursor.TryNumber("12q", out _));
        Assert.False(TokenCursor.TryNumber("", out _));
    }
}
