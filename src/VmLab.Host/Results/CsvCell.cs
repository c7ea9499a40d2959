using System.Globalization;

namespace VmLab.Host.Results;

/// <summary>
/// One CSV cell (RFC 4180), safe to open in a spreadsheet. A cell with a comma, quote or line break is quoted. A
/// text cell that starts with <c>=</c>, <c>+</c>, <c>-</c>, <c>@</c>, a tab or a carriage return would be read as a
/// formula by Excel, LibreOffice and Google Sheets (CSV injection: a case id, plugin error or scenario name can carry
/// <c>=HYPERLINK(...)</c>), so it is written with a leading apostrophe, in quotes: the spreadsheet shows it as text.
/// A cell that is a plain number (<c>-12</c>, <c>+3.5</c>, <c>-1E-05</c>) is left alone, so negative values stay
/// numbers a spreadsheet can sum and plot.
/// </summary>
public static class CsvCell
{
    public static string Of(string text)
    {
        if (text.Length > 0 && text[0] is '=' or '+' or '-' or '@' or '\t' or '\r'
            && !double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out _))
            return "\"'" + text.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
        return text.IndexOfAny([',', '"', '\n', '\r']) >= 0 ? "\"" + text.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : text;
    }
}
