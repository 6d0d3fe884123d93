# apiclus1 with 50 bootstrap replicate weights: the data set apiclus1_boot50 of
# perception.datasets, built from R survey's apiclus1. Sourced (from the repository root)
# by perception/datasets/make_datasets.R and the scripts of tests/reference/.
#
# rw1..rw50 are combined analysis weights: in each replicate the 15 sampled districts
# (dnum) were drawn 15 times with replacement; a school's replicate weight is pw times the
# number of times its district was drawn. The draws (apiclus1_boot50_draws.csv: one row
# per district, in apiclus1's order of first appearance) are those of the apiclus1_boot50
# file the project's R reference values were first computed on; the seed that produced
# them is not recorded, so they are kept as data rather than drawn again.
# Use: svrepdesign(data = apiclus1_boot50, repweights = "rw[0-9]+", weights = ~pw,
#                  type = "bootstrap")

with_boot50 <- function(apiclus1,
                        draws_file = file.path("perception", "datasets",
                                               "apiclus1_boot50_draws.csv")) {
  draws <- read.csv(draws_file)
  stopifnot(identical(draws$dnum, unique(apiclus1$dnum)),
            identical(names(draws)[-1], paste0("rw", 1:50)),
            all(colSums(draws[, -1]) == length(draws$dnum)))
  counts <- as.matrix(draws[match(apiclus1$dnum, draws$dnum), -1])
  out <- cbind(apiclus1, apiclus1$pw * counts)
  rownames(out) <- NULL
  out
}
