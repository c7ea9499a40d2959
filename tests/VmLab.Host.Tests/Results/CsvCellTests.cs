using VmLab.Host.Results;

namespace VmLab.Host.Tests.Results;

public sealed class CsvCellTests
{
    [Theory]
    [InlineData("=HYPERLINK(\"http://x\")", "\"'=HYPERLINK(\"\"http://x\"\")\"")]
    [InlineData("+cmd|' /C calc'!A0", "\"'+cmd|' /C calc'!A0\"")]
    [InlineData("-2+3", "\"'-2+3\"")]
    [InlineData("@SUM(A1:A9)", "\"'@SUM(A1:A9)\"")]
    [InlineData("\t=1", "\"'\t=1\"")]
    public void TextThatASpreadsheetWouldEvaluateIsQuotedBehindAnApostrophe(string text, string cell) =>
        Assert.Equal(cell, CsvCell.Of(text));

    [Theory]
    [InlineData("-12")]
    [InlineData("+3.5")]
    [InlineData("-1E-05")]
    [InlineData("0.25")]
    [InlineData("entries=4")]
    public void NumbersAndPlainTextStayAsTheyAre(string text) => Assert.Equal(text, CsvCell.Of(text));

    [Fact]
    public void CommasQuotesAndLineBreaksAreQuoted()
    {
        Assert.Equal("\"entries=4,policy=lru\"", CsvCell.Of("entries=4,policy=lru"));
        Assert.Equal("\"a \"\"b\"\"\"", CsvCell.Of("a \"b\""));
        Assert.Equal("\"a\nb\"", CsvCell.Of("a\nb"));
    }
}
