# Export R survey's `api` data sets into perception/datasets/data/ (perception.datasets).
#
# Run from the repository root:  Rscript perception/datasets/make_datasets.R
# (R 4.2.2, survey 4.1.1). Writes, for apistrat, apiclus1, apiclus2, apipop, apisrs and
# apiclus1_boot50:
#   perception/datasets/data/<name>.csv.gz  the data, R's rows and column order, column
#                                           names with dots turned into underscores;
#   perception/datasets/data/columns.csv    one row per column: data set, column, R's
#                                           name, R's type (factor, integer, numeric,
#                                           character) and the factor levels in R's order
#                                           (separated by "|"), so that the loader
#                                           rebuilds R's types;
#   tests/reference/datasets_summary.csv    a summary of every column computed in R (NAs,
#                                           sums, level counts) that the tests compare
#                                           with what perception.datasets.load gives.
# Numbers are written with the fewest digits (15 to 17) that read back as the same double,
# so the loaded data equal R's bit for bit. The output is byte-for-byte reproducible.
#
# apiclus1_boot50 is apiclus1 with 50 bootstrap replicate weights rw1..rw50, built by
# perception/datasets/apiclus1_boot50.R (how the weights were drawn is told there).

suppressPackageStartupMessages(library(survey))
stopifnot(packageVersion("survey") >= "4.1")
data(api)

HERE <- file.path("perception", "datasets")
OUT <- file.path(HERE, "data")
stopifnot(dir.exists(OUT))

source(file.path(HERE, "apiclus1_boot50.R"))
apiclus1_boot50 <- with_boot50(apiclus1)

# ---- writing ----------------------------------------------------------------------
# the shortest of %.15g, %.16g, %.17g that reads back as the same double
shortest <- function(x) {
  ok <- !is.na(x)
  out <- rep(NA_character_, length(x))
  out[ok] <- sprintf("%.15g", x[ok])
  for (digits in c(16, 17)) {
    bad <- ok & suppressWarnings(as.numeric(out)) != x
    bad[is.na(bad)] <- FALSE
    out[bad] <- sprintf(paste0("%.", digits, "g"), x[bad])
  }
  stopifnot(identical(as.numeric(out[ok]), x[ok]))
  out
}

r_type <- function(x) {
  if (is.factor(x)) return("factor")
  if (is.integer(x)) return("integer")
  if (is.double(x)) return("numeric")
  if (is.character(x)) return("character")
  stop("unexpected column type: ", class(x)[1])
}

DATASETS <- c("apistrat", "apiclus1", "apiclus2", "apipop", "apisrs", "apiclus1_boot50")
columns <- list()
for (name in DATASETS) {
  d <- get(name)
  types <- vapply(d, r_type, "")
  stopifnot(!any(vapply(d, is.ordered, TRUE)))
  levels <- vapply(d, function(x) if (is.factor(x)) paste(levels(x), collapse = "|") else "", "")
  out <- d
  for (col in names(d)) {
    x <- d[[col]]
    out[[col]] <- switch(types[[col]],
                         factor = as.character(x),
                         integer = as.character(as.vector(x)),  # apiclus2$fpc2 is a 1-d array
                         numeric = shortest(as.vector(x)),
                         character = x)
  }
  names(out) <- gsub(".", "_", names(d), fixed = TRUE)
  stopifnot(!anyDuplicated(names(out)))
  quote <- which(types %in% c("factor", "character"))
  con <- file(file.path(OUT, paste0(name, ".csv")), "wb")
  write.csv(out, con, row.names = FALSE, na = "", quote = quote, fileEncoding = "UTF-8")
  close(con)
  columns[[name]] <- data.frame(dataset = name, column = names(out), r_column = names(d),
                                r_type = unname(types), levels = unname(levels))
  cat(sprintf("%-16s %5d rows %3d columns\n", name, nrow(d), ncol(d)))
}
columns <- do.call(rbind, columns)
write.csv(columns, file.path(OUT, "columns.csv"), row.names = FALSE, quote = FALSE)

# gzip with no file name and no time stamp in the header, so the files are reproducible
for (name in DATASETS) {
  path <- file.path(OUT, paste0(name, ".csv"))
  status <- system2("gzip", c("-n", "-9", "-f", shQuote(path)))
  stopifnot(status == 0)
}

# ---- a summary computed in R, for tests/test_datasets.py ----------------------------
# per data set and column: R's type, number of NAs and, for numbers, the sum (17
# significant digits) and the smallest and largest value; for factors the count of each
# level; for text the number of distinct values. The loader must reproduce all of it.
summary <- list()
for (name in DATASETS) {
  d <- get(name)
  for (col in names(d)) {
    x <- d[[col]]
    type <- r_type(x)
    value <- switch(type,
      factor = paste(paste0(levels(x), ":", as.vector(table(x))), collapse = "|"),
      character = as.character(length(unique(x))),
      {
        y <- as.vector(x)[!is.na(x)]
        if (length(y)) sprintf("%.17g|%.17g|%.17g", sum(y), min(y), max(y)) else ""
      })
    summary[[length(summary) + 1]] <- data.frame(
      dataset = name, column = gsub(".", "_", col, fixed = TRUE), r_type = type,
      n = nrow(d), n_na = sum(is.na(x)), value = value)
  }
}
write.csv(do.call(rbind, summary), file.path("tests", "reference", "datasets_summary.csv"),
          row.names = FALSE)
